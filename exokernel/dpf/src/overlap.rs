//! Overlap detection: could some packet be accepted by both filters?
//!
//! Filters are conjunctions of masked equalities, so two of them can both accept a packet
//! unless some byte they both constrain is required to hold different bits. Bytes are
//! comparable only under the same base: in segment `k` when both filters applied the same
//! first `k` indirections. Where bases differ we cannot compare, and assume overlap (safe:
//! protection may refuse too much, never too little). Length requirements never separate
//! filters, since a long enough packet meets both.

use crate::atom::{Atom, Field};
use crate::trie::{Kind, NodeId, Trie, ROOT};
use crate::verify::{ByteSet, Filter};
use crate::FilterId;
use alloc::vec::Vec;

/// Whether some packet could be accepted by both `a` and `b`.
pub fn overlaps(a: &Filter, b: &Filter) -> bool {
    let common = a
        .shifts()
        .iter()
        .zip(b.shifts())
        .take_while(|(x, y)| x == y)
        .count();
    a.segments()
        .iter()
        .zip(b.segments())
        .take(common + 1)
        .all(|(x, y)| compatible(x, y))
}

fn compatible(x: &ByteSet, y: &ByteSet) -> bool {
    x.iter().all(|(off, &(m1, v1))| match y.get(off) {
        Some(&(m2, v2)) => m1 & m2 & (v1 ^ v2) == 0,
        None => true,
    })
}

fn field_fits(set: &ByteSet, field: &Field, value: u32) -> bool {
    field.bytes(value).all(|(off, m1, v1)| match set.get(&off) {
        Some(&(m2, v2)) => m1 & m2 & (v1 ^ v2) == 0,
        None => true,
    })
}

/// The installed filters that overlap `f`, found by walking the trie: a subtree is pruned
/// as soon as an edge contradicts `f`, and where `f` tests exactly a group's field only the
/// child with `f`'s constant is followed (a hash lookup), so installing one more port
/// filter among a thousand costs a path, not a scan.
pub fn overlapping(trie: &Trie, f: &Filter) -> Vec<FilterId> {
    let mut out = Vec::new();
    walk(trie, f, ROOT, 0, true, &mut out);
    out
}

/// `f`'s constant for `field` in segment `seg`, if it tests exactly that field.
fn exact(f: &Filter, seg: usize, field: &Field) -> Option<u32> {
    let mut k = 0;
    for a in f.atoms() {
        match a {
            Atom::Shift(_) => k += 1,
            Atom::Eq { field: g, value } if k == seg && g == field => return Some(*value),
            Atom::Eq { .. } => {}
        }
    }
    None
}

fn walk(trie: &Trie, f: &Filter, id: NodeId, seg: usize, comparable: bool, out: &mut Vec<u32>) {
    let node = trie.node(id);
    out.extend_from_slice(&node.accept);
    for g in &node.groups {
        match g.kind {
            Kind::Test(field) if comparable => {
                if let Some(v) = exact(f, seg, &field) {
                    if let Ok(i) = g.children.binary_search_by_key(&v, |c| c.0) {
                        walk(trie, f, g.children[i].1, seg, true, out);
                    }
                    continue;
                }
                // Comparable segments always exist in `f`; if not, stay conservative.
                let set = f.segments().get(seg);
                for &(v, c) in &g.children {
                    if set.is_none_or(|set| field_fits(set, &field, v)) {
                        walk(trie, f, c, seg, set.is_some(), out);
                    }
                }
            }
            Kind::Test(_) => {
                for &(_, c) in &g.children {
                    walk(trie, f, c, seg, false, out);
                }
            }
            Kind::Shift(s) => {
                let same = comparable && f.shifts().get(seg) == Some(&s);
                for &(_, c) in &g.children {
                    walk(trie, f, c, seg + 1, same, out);
                }
            }
        }
    }
}
