//! Protection: overlap detection (exactness and agreement between the pairwise test and
//! the trie walk), refusal between environments, sharing, ownership, limits.

use super::gen::{filter, filters, packets, satisfy};
use crate::atom::{Atom, Shift};
use crate::overlap::{overlapping, overlaps};
use crate::trie::Trie;
use crate::{AccessError, Dpf, Filter, Grantee, InsertError, JitError, Limits};
use alloc::vec::Vec;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Sound: a packet accepted by both means the filters overlap.
    #[test]
    fn common_packets_imply_overlap(a in filter(), b in filter(), pkts in packets()) {
        for (mut p, which) in pkts {
            if which.is_some() { satisfy(&a, &mut p); satisfy(&b, &mut p); }
            if a.matches(&p) && b.matches(&p) {
                prop_assert!(overlaps(&a, &b), "both match {:02x?}", p);
            }
        }
    }

    /// Exact without indirections: overlapping filters have a common packet.
    #[test]
    fn overlap_without_shifts_has_a_witness(a in filter(), b in filter()) {
        prop_assume!(a.shifts().is_empty() && b.shifts().is_empty());
        if overlaps(&a, &b) {
            let mut p = Vec::new();
            satisfy(&a, &mut p);
            satisfy(&b, &mut p);
            prop_assert!(a.matches(&p) && b.matches(&p), "no witness {:02x?}", p);
        }
    }

    /// The trie walk finds exactly the filters the pairwise test finds.
    #[test]
    fn trie_walk_equals_pairwise(fs in filters(), f in filter()) {
        let mut t = Trie::default();
        for (id, g) in fs.iter().enumerate() { t.insert(g.atoms(), id as u32); }
        let mut got = overlapping(&t, &f);
        got.sort_unstable();
        let want: Vec<u32> = fs.iter().enumerate()
            .filter(|(_, g)| overlaps(g, &f)).map(|(i, _)| i as u32).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn overlap_is_symmetric(a in filter(), b in filter()) {
        prop_assert_eq!(overlaps(&a, &b), overlaps(&b, &a));
    }
}

fn f(atoms: &[Atom]) -> Filter {
    Filter::new(atoms).unwrap()
}

fn dns() -> Filter {
    f(&[
        Atom::eq(12, 2, 0x0800),
        Atom::eq(23, 1, 17),
        Atom::Shift(Shift::IP_HL),
        Atom::eq(2, 2, 53),
    ])
}

#[test]
fn another_environment_cannot_steal_packets() {
    let mut d = Dpf::default();
    let id = d.insert(1, dns()).unwrap();
    // The same filter, a more general one, and one with the same port in another order.
    for thief in [
        dns(),
        f(&[Atom::eq(12, 2, 0x0800)]),
        f(&[
            Atom::eq(23, 1, 17),
            Atom::eq(12, 2, 0x0800),
            Atom::Shift(Shift::IP_HL),
            Atom::eq(2, 2, 53),
        ]),
        f(&[Atom::eq(12, 1, 0x08)]),
    ] {
        assert_eq!(
            d.insert(2, thief),
            Err(InsertError::Overlap {
                filter: id,
                owner: 1
            })
        );
    }
    // Disjoint: another port, another protocol, ARP.
    d.insert(
        2,
        f(&[
            Atom::eq(12, 2, 0x0800),
            Atom::eq(23, 1, 17),
            Atom::Shift(Shift::IP_HL),
            Atom::eq(2, 2, 54),
        ]),
    )
    .unwrap();
    d.insert(2, f(&[Atom::eq(12, 2, 0x0800), Atom::eq(23, 1, 6)]))
        .unwrap();
    d.insert(2, f(&[Atom::eq(12, 2, 0x0806)])).unwrap();
    // The owner itself may overlap its own filters.
    d.insert(1, dns()).unwrap();
}

#[test]
fn sharing_must_be_permitted_by_the_owner() {
    let mut d = Dpf::default();
    let id = d.insert(1, dns()).unwrap();
    assert_eq!(
        d.permit(2, id, Grantee::Anyone),
        Err(AccessError::NotOwner {
            filter: id,
            owner: 1
        })
    );
    d.permit(1, id, Grantee::Env(3)).unwrap();
    assert!(d.insert(2, dns()).is_err());
    let shared = d.insert(3, dns()).unwrap();
    // Same atoms: the older filter keeps winning (tie on specificity, lower id).
    assert_eq!(d.classify(&super::semantics::udp(53)), Some(id));
    // Every owner of an overlapped filter must permit: env 3 has not yet.
    d.permit(1, id, Grantee::Anyone).unwrap();
    let ip = f(&[Atom::eq(12, 2, 0x0800)]);
    assert_eq!(
        d.insert(4, ip.clone()),
        Err(InsertError::Overlap {
            filter: shared,
            owner: 3
        })
    );
    d.permit(3, shared, Grantee::Anyone).unwrap();
    d.insert(4, ip).unwrap();
    assert_eq!(
        d.permit(1, 99, Grantee::Anyone),
        Err(AccessError::NoSuchFilter(99))
    );
}

#[test]
fn only_the_owner_removes() {
    let mut d = Dpf::default();
    let id = d.insert(1, dns()).unwrap();
    assert_eq!(
        d.remove(2, id),
        Err(AccessError::NotOwner {
            filter: id,
            owner: 1
        })
    );
    d.remove(1, id).unwrap();
    assert_eq!(d.remove(1, id), Err(AccessError::NoSuchFilter(id)));
    // Gone: another environment may now claim the traffic.
    d.insert(2, dns()).unwrap();
}

#[test]
fn limits_are_enforced_and_leave_the_engine_intact() {
    let port = |p| f(&[Atom::eq(0, 2, p)]);
    let mut d = Dpf::new(Limits {
        max_filters: 3,
        ..Limits::default()
    });
    for p in 0..3 {
        d.insert(1, port(p)).unwrap();
    }
    assert_eq!(
        d.insert(1, port(9)),
        Err(InsertError::TooManyFilters { max: 3 })
    );

    let mut d = Dpf::new(Limits {
        max_trie_bytes: 2000,
        ..Limits::default()
    });
    let mut refused = None;
    for p in 0..100 {
        if let Err(e) = d.insert(1, port(p)) {
            refused = Some(e);
            break;
        }
    }
    assert!(
        matches!(refused, Some(InsertError::TrieFull { max: 2000, .. })),
        "{refused:?}"
    );

    let mut d = Dpf::new(Limits {
        max_code_bytes: 300,
        ..Limits::default()
    });
    let mut n = 0;
    let err = loop {
        match d.insert(1, port(n)) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, InsertError::Jit(JitError::TooLarge { max: 300, .. })),
        "{err:?}"
    );
    // The refused filter is not in the trie, and the code still serves the others.
    assert_eq!(d.len(), n as usize);
    assert_eq!(d.classify(&[0, 0]), Some(0));
    assert_eq!(d.classify(&(n as u16).to_be_bytes()), None);
    let x = crate::exec::Exec::new(&d).unwrap();
    assert_eq!(x.classify(&(n as u16 - 1).to_be_bytes()), Some(n - 1));
}
