//! A readable rendering of the merged trie: one edge per line, indented by depth, with the
//! filters accepted at its end and how each group of edges is dispatched.

use crate::atom::Atom;
use crate::trie::{Kind, NodeId, Trie, ROOT};
use crate::FilterId;
use alloc::string::String;
use core::fmt::Write;

/// Render `trie`, naming filters with `name`.
pub fn render(trie: &Trie, name: &dyn Fn(FilterId) -> String) -> String {
    let mut out = String::new();
    node(trie, ROOT, 0, name, &mut out);
    out
}

fn node(
    trie: &Trie,
    id: NodeId,
    depth: usize,
    name: &dyn Fn(FilterId) -> String,
    out: &mut String,
) {
    for g in &trie.node(id).groups {
        let pad = "  ".repeat(depth);
        if let Some(t) = &g.hash {
            let _ = writeln!(
                out,
                "{pad}[hash: {} keys, {} slots, longest probe {}]",
                g.children.len(),
                t.slots.len(),
                t.max_probe
            );
        }
        for &(value, child) in &g.children {
            let atom = match g.kind {
                Kind::Test(field) => Atom::Eq { field, value },
                Kind::Shift(s) => Atom::Shift(s),
            };
            let _ = write!(out, "{pad}{atom}");
            let acc = &trie.node(child).accept;
            for (i, f) in acc.iter().enumerate() {
                let sep = if i == 0 { "  -> " } else { ", " };
                let _ = write!(out, "{sep}{}", name(*f));
            }
            out.push('\n');
            node(trie, child, depth + 1, name, out);
        }
    }
}
