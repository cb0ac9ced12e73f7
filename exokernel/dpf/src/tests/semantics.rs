//! The language, the verifier and the classification rule.

use crate::atom::{Atom, Field, Shift, MAX_ATOMS, MAX_PACKET};
use crate::{Dpf, Filter, FilterError};
use alloc::vec::Vec;

/// An Ethernet + IPv4 (with `ihl` words) + UDP packet to `port`.
pub fn udp_ihl(port: u16, ihl: u8) -> Vec<u8> {
    let l4 = 14 + 4 * ihl as usize;
    let mut p = alloc::vec![0u8; l4 + 8];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x40 | ihl;
    p[23] = 17;
    p[l4 + 2..l4 + 4].copy_from_slice(&port.to_be_bytes());
    p
}

pub fn udp(port: u16) -> Vec<u8> {
    udp_ihl(port, 5)
}

fn f(atoms: &[Atom]) -> Result<Filter, FilterError> {
    Filter::new(atoms)
}

fn eqm(offset: u32, width: u32, mask: u32, value: u32) -> Atom {
    Atom::Eq {
        field: Field {
            offset,
            width,
            mask,
        },
        value,
    }
}

fn udp_port(port: u32) -> Filter {
    f(&[
        Atom::eq(12, 2, 0x0800),
        Atom::eq(23, 1, 17),
        Atom::Shift(Shift::IP_HL),
        Atom::eq(2, 2, port),
    ])
    .unwrap()
}

#[test]
fn indirection_follows_the_ip_header_length() {
    let dns = udp_port(53);
    assert!(dns.matches(&udp(53)));
    assert!(dns.matches(&udp_ihl(53, 15)));
    assert!(!dns.matches(&udp(54)));
    // With options the port is elsewhere: a fixed offset would have been fooled.
    let mut p = udp_ihl(9, 6);
    p[38] = 0;
    p[39] = 53;
    assert!(!dns.matches(&p));
}

#[test]
fn short_packets_do_not_match() {
    let dns = udp_port(53);
    let p = udp(53);
    assert!(!dns.matches(&p[..37]));
    assert!(dns.matches(&p[..38]));
    assert!(!dns.matches(&[]));
    assert!(!f(&[Atom::eq(0, 4, 0)]).unwrap().matches(&[0, 0, 0]));
}

#[test]
fn masks_and_widths() {
    let v4 = f(&[eqm(14, 1, 0xf0, 0x40)]).unwrap();
    let mut p = udp(1);
    assert!(v4.matches(&p));
    p[14] = 0x65;
    assert!(!v4.matches(&p));
    let dst = f(&[Atom::eq(30, 4, 0x0a00_0001)]).unwrap();
    p[30..34].copy_from_slice(&[10, 0, 0, 1]);
    assert!(dst.matches(&p));
}

#[test]
fn verifier_names_what_is_wrong() {
    use FilterError::*;
    let cases: [(Vec<Atom>, FilterError); 12] = [
        (Vec::new(), Empty),
        (
            alloc::vec![Atom::eq(0, 1, 0); MAX_ATOMS + 1],
            TooManyAtoms {
                count: MAX_ATOMS + 1,
                max: MAX_ATOMS,
            },
        ),
        (
            alloc::vec![
                Atom::Shift(Shift::IP_HL),
                Atom::Shift(Shift::IP_HL),
                Atom::Shift(Shift::IP_HL),
                Atom::Shift(Shift::IP_HL),
                Atom::eq(0, 1, 0)
            ],
            TooManyShifts { count: 4, max: 3 },
        ),
        (
            alloc::vec![eqm(0, 3, 0xff, 0)],
            BadWidth { atom: 0, width: 3 },
        ),
        (alloc::vec![eqm(0, 1, 0, 0)], ZeroMask { atom: 0 }),
        (
            alloc::vec![Atom::eq(0, 1, 1), eqm(0, 1, 0x1ff, 0)],
            MaskWiderThanWidth {
                atom: 1,
                mask: 0x1ff,
                width: 1,
            },
        ),
        (
            alloc::vec![eqm(0, 1, 0x0f, 0x10)],
            ValueOutsideMask {
                atom: 0,
                value: 0x10,
                mask: 0x0f,
            },
        ),
        (
            alloc::vec![Atom::eq(MAX_PACKET as u32 - 1, 2, 0)],
            OffsetOutOfRange {
                atom: 0,
                end: MAX_PACKET as u64 + 1,
                max: MAX_PACKET,
            },
        ),
        (
            alloc::vec![
                Atom::Shift(Shift {
                    scale: 3,
                    ..Shift::IP_HL
                }),
                Atom::eq(0, 1, 0)
            ],
            BadScale { atom: 0, scale: 3 },
        ),
        (
            alloc::vec![
                Atom::Shift(Shift {
                    mask: 0x100,
                    ..Shift::IP_HL
                }),
                Atom::eq(0, 1, 0)
            ],
            ShiftMaskTooWide {
                atom: 0,
                mask: 0x100,
            },
        ),
        (
            alloc::vec![Atom::eq(0, 1, 0), Atom::Shift(Shift::IP_HL)],
            TrailingShift { atom: 1 },
        ),
        (
            alloc::vec![Atom::eq(12, 2, 0x0800), Atom::eq(13, 1, 1)],
            Contradiction {
                first: 0,
                second: 1,
            },
        ),
    ];
    for (atoms, want) in cases {
        let got = f(&atoms);
        assert_eq!(got.as_ref().err(), Some(&want), "{atoms:?}");
        assert!(!std::format!("{want}").is_empty());
    }
    assert_eq!(
        std::format!("{}", FilterError::BadWidth { atom: 2, width: 3 }),
        "atom 3: width 3 (must be 1, 2 or 4 bytes)"
    );
}

#[test]
fn canonical_form_sorts_and_deduplicates() {
    let a = f(&[
        Atom::eq(23, 1, 17),
        Atom::eq(12, 2, 0x0800),
        Atom::eq(23, 1, 17),
    ])
    .unwrap();
    let b = f(&[Atom::eq(12, 2, 0x0800), Atom::eq(23, 1, 17)]).unwrap();
    assert_eq!(a.atoms(), b.atoms());
    assert_eq!(a.priority(), 2);
}

#[test]
fn most_specific_filter_wins_then_the_oldest() {
    let mut d = Dpf::default();
    let ip = d.insert(1, f(&[Atom::eq(12, 2, 0x0800)]).unwrap()).unwrap();
    let udp_any = d
        .insert(
            1,
            f(&[Atom::eq(12, 2, 0x0800), Atom::eq(23, 1, 17)]).unwrap(),
        )
        .unwrap();
    let dns = d.insert(1, udp_port(53)).unwrap();
    let other_ip = d
        .insert(1, f(&[Atom::eq(23, 1, 17), Atom::eq(26, 4, 0)]).unwrap())
        .unwrap();
    assert_eq!(d.classify(&udp(53)), Some(dns));
    assert_eq!(d.classify(&udp(54)), Some(udp_any)); // 2 atoms each: the older wins
    let _ = other_ip;
    let mut tcp = udp(53);
    tcp[23] = 6;
    assert_eq!(d.classify(&tcp), Some(ip));
    assert_eq!(d.classify(&[0u8; 60]), None);
    for p in [udp(53), udp(54), tcp] {
        assert_eq!(d.classify(&p), d.classify_reference(&p));
    }
}

#[test]
fn removing_every_filter_empties_the_trie() {
    let mut d = Dpf::default();
    let ids: Vec<u32> = (0..50).map(|p| d.insert(1, udp_port(p)).unwrap()).collect();
    assert!(d.trie().hash_slots() > 0);
    assert_eq!(d.trie().nodes(), 1 + 3 + 50);
    for id in ids {
        d.remove(1, id).unwrap();
    }
    assert_eq!(d.trie().nodes(), 1);
    assert_eq!(d.trie().hash_slots(), 0);
    assert_eq!(d.classify(&udp(1)), None);
}

#[test]
fn hash_groups_dispatch_many_ports() {
    let mut d = Dpf::default();
    for p in 0..1000 {
        d.insert(1, udp_port(p * 3)).unwrap();
    }
    for port in 0..3000u16 {
        let want = (port % 3 == 0).then_some(port as u32 / 3);
        assert_eq!(d.classify(&udp(port)), want);
    }
    let dump = crate::dump::render(d.trie(), &|id| std::format!("f{id}"));
    assert!(
        dump.contains("[hash: 1000 keys, 2048 slots"),
        "{}",
        &dump[..300]
    );
}

mod arbitrary {
    use crate::atom::{Atom, Field, Shift};
    use crate::exec::Exec;
    use crate::{Dpf, Filter};
    use proptest::prelude::*;

    fn raw_atom() -> impl Strategy<Value = Atom> {
        let small = prop_oneof![0u32..8, 0u32..2100, any::<u32>()];
        prop_oneof![
            (small.clone(), 0u32..6, any::<u32>(), any::<u32>()).prop_map(
                |(offset, width, mask, value)| {
                    Atom::Eq {
                        field: Field {
                            offset,
                            width,
                            mask,
                        },
                        value,
                    }
                }
            ),
            (small.clone(), 0u32..0x200, 0u32..10, small).prop_map(|(offset, mask, scale, add)| {
                Atom::Shift(Shift {
                    offset,
                    mask,
                    scale,
                    add,
                })
            }),
        ]
    }

    proptest! {
        /// Untrusted atoms: the verifier never panics, and whatever it accepts runs safely
        /// and identically in all three engines, near the packet-size limit too.
        #[test]
        fn untrusted_atoms_are_verified_or_refused(
            atoms in prop::collection::vec(raw_atom(), 0..20),
            pkt in prop::collection::vec(any::<u8>(), 0..2200),
        ) {
            let Ok(f) = Filter::new(&atoms) else { return Ok(()) };
            let mut d = Dpf::default();
            d.insert(1, f).unwrap();
            let x = Exec::new(&d).unwrap();
            let r = d.classify_reference(&pkt);
            prop_assert_eq!(d.classify(&pkt), r);
            prop_assert_eq!(x.classify(&pkt), r);
        }

        #[test]
        fn filter_files_never_panic(text in "[a-z0-9 :=&@*+#x\\n_-]{0,80}") {
            let _ = crate::text::parse(&text);
        }
    }
}
