//! Random filters and packets over a small universe, so that filters share prefixes,
//! overlap, collide in hash groups and packets actually match them.

use crate::atom::{Atom, Field, Shift};
use crate::verify::Filter;
use alloc::vec::Vec;
use proptest::prelude::*;

const FIELDS: [(u32, u32, u32); 8] = [
    (0, 1, 0xff),
    (1, 1, 0x0f),
    (1, 1, 0xf0),
    (2, 2, 0xffff),
    (2, 2, 0xff00),
    (4, 4, 0xffff_ffff),
    (3, 1, 0xff),
    (6, 2, 0x0ff0),
];

const SHIFTS: [Shift; 2] = [
    Shift {
        offset: 0,
        mask: 0x03,
        scale: 4,
        add: 2,
    },
    Shift {
        offset: 1,
        mask: 0x01,
        scale: 1,
        add: 0,
    },
];

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        8 => (0..FIELDS.len(), prop_oneof![Just(0u32), Just(1), Just(2), Just(0x11), any::<u32>()])
            .prop_map(|(i, v)| {
                let (offset, width, mask) = FIELDS[i];
                Atom::Eq { field: Field { offset, width, mask }, value: v & mask }
            }),
        1 => (0..SHIFTS.len()).prop_map(|i| Atom::Shift(SHIFTS[i])),
    ]
}

/// A valid filter (contradictory or malformed draws are discarded).
pub fn filter() -> impl Strategy<Value = Filter> {
    prop::collection::vec(atom(), 1..6).prop_filter_map("invalid", |a| Filter::new(&a).ok())
}

/// Many filters testing one field with distinct constants (hash groups), plus noise.
pub fn filters() -> impl Strategy<Value = Vec<Filter>> {
    prop_oneof![
        prop::collection::vec(filter(), 0..24),
        (
            prop::collection::btree_set(any::<u16>(), 1..40),
            prop::collection::vec(filter(), 0..6)
        )
            .prop_map(|(ports, mut extra)| {
                let mut v: Vec<Filter> = ports
                    .into_iter()
                    .filter_map(|p| {
                        Filter::new(&[
                            Atom::eq(0, 1, 0x11),
                            Atom::Shift(SHIFTS[0]),
                            Atom::eq(2, 2, p as u32),
                        ])
                        .ok()
                    })
                    .collect();
                v.append(&mut extra);
                v
            }),
    ]
}

/// Bend `pkt` towards satisfying `f` (later atoms may undo what a shift read).
pub fn satisfy(f: &Filter, pkt: &mut Vec<u8>) {
    let mut base = 0usize;
    for a in f.atoms() {
        match a {
            Atom::Eq { field, value } => {
                let end = base + (field.offset + field.width) as usize;
                if pkt.len() < end {
                    pkt.resize(end, 0);
                }
                for (off, m, v) in field.bytes(*value) {
                    let b = &mut pkt[base + off as usize];
                    *b = (*b & !m) | v;
                }
            }
            Atom::Shift(s) => {
                let at = base + s.offset as usize;
                if pkt.len() <= at {
                    pkt.resize(at + 1, 0);
                }
                base = s.apply(pkt, base).unwrap_or(base);
            }
        }
    }
}

/// Random packets, some bent to match one of `n` filters (given by index).
pub fn packets() -> impl Strategy<Value = Vec<(Vec<u8>, Option<usize>)>> {
    let byte = prop_oneof![Just(0u8), Just(1), Just(0x11), Just(0xff), any::<u8>()];
    prop::collection::vec(
        (
            prop::collection::vec(byte, 0..40),
            prop::option::of(any::<usize>()),
        ),
        1..24,
    )
}

/// Materialise the packets of [`packets`] against `fs`.
pub fn bend(fs: &[Filter], pkts: Vec<(Vec<u8>, Option<usize>)>) -> Vec<Vec<u8>> {
    pkts.into_iter()
        .map(|(mut p, which)| {
            if let (Some(i), false) = (which, fs.is_empty()) {
                satisfy(&fs[i % fs.len()], &mut p);
            }
            p
        })
        .collect()
}
