//! The merged decision trie of all installed filters. Each edge is one canonical atom; a
//! filter is the path of its atoms, so filters sharing a prefix share nodes. At a node the
//! outgoing edges are grouped by what they test (a field, or an indirection); a group's
//! children differ only in the constant, so one load decides among all of them, through a
//! hash table when there are many (thesis §6.1.1).
//!
//! Classification is a depth-first walk: a packet can follow at most one child per group,
//! but several groups of a node, so the walk visits each node at most once and is bounded
//! by the trie size. The best match follows the rule of [`crate::classify`].

use crate::atom::{Atom, Field, Shift};
use crate::hash::{Table, HASH_MIN};
use crate::interp::{key_id, match_key};
use crate::FilterId;
use alloc::vec::Vec;

pub type NodeId = u32;
pub const ROOT: NodeId = 0;

/// What a group of edges tests. Orders groups within a node (deterministic code layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Test(Field),
    Shift(Shift),
}

/// Edges of one node that test the same thing: `(constant, child)` sorted by constant
/// (a shift group has one child under constant 0).
#[derive(Clone, Debug)]
pub struct Group {
    pub kind: Kind,
    pub children: Vec<(u32, NodeId)>,
    /// Present when there are more than [`HASH_MIN`] children.
    pub hash: Option<Table>,
}

#[derive(Clone, Debug, Default)]
pub struct Node {
    /// Filters whose last atom is the edge into this node (more than one only when shared).
    pub accept: Vec<FilterId>,
    pub groups: Vec<Group>,
    /// Changed since the JIT last compiled it (it or a descendant).
    pub dirty: bool,
    /// Distinguishes reuses of a slot, so the JIT never trusts code of a freed node.
    pub serial: u64,
}

#[derive(Clone, Debug)]
pub struct Trie {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    dirty: Vec<NodeId>,
    live: usize,
    slots: usize,
    serials: u64,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: alloc::vec![Node {
                dirty: true,
                ..Node::default()
            }],
            free: Vec::new(),
            dirty: alloc::vec![ROOT],
            live: 1,
            slots: 0,
            serials: 1,
        }
    }
}

fn split(a: &Atom) -> (Kind, u32) {
    match *a {
        Atom::Eq { field, value } => (Kind::Test(field), value),
        Atom::Shift(s) => (Kind::Shift(s), 0),
    }
}

impl Group {
    fn find(&self, key: u32) -> Option<usize> {
        match &self.hash {
            Some(t) => t.find(key, |i| self.children[i].0),
            None => self.children.iter().position(|c| c.0 == key),
        }
    }

    /// Rebuild the hash index; returns the change in slot count.
    fn rehash(&mut self) -> isize {
        let before = self.slots();
        self.hash = (self.children.len() > HASH_MIN).then(|| {
            let keys: Vec<u32> = self.children.iter().map(|c| c.0).collect();
            Table::build(&keys)
        });
        self.slots() as isize - before as isize
    }

    fn slots(&self) -> usize {
        self.hash.as_ref().map_or(0, |t| t.slots.len())
    }
}

impl Trie {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// Live nodes, the root included.
    pub fn nodes(&self) -> usize {
        self.live
    }

    /// Hash-table slots over all groups (for the memory estimate).
    pub fn hash_slots(&self) -> usize {
        self.slots
    }

    fn mark(&mut self, id: NodeId) {
        let n = &mut self.nodes[id as usize];
        if !n.dirty {
            n.dirty = true;
            self.dirty.push(id);
        }
    }

    fn alloc(&mut self) -> NodeId {
        self.serials += 1;
        let node = Node {
            serial: self.serials,
            ..Node::default()
        };
        self.live += 1;
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        };
        self.mark(id);
        id
    }

    /// Forget the dirty marks once the JIT has compiled every marked node.
    pub fn clear_dirty(&mut self) {
        for id in core::mem::take(&mut self.dirty) {
            self.nodes[id as usize].dirty = false;
        }
    }

    /// Add filter `id` with canonical `atoms` (the caller checked limits and overlap).
    pub fn insert(&mut self, atoms: &[Atom], id: FilterId) {
        let mut n = ROOT;
        self.mark(n);
        for a in atoms {
            let (kind, key) = split(a);
            let groups = &self.nodes[n as usize].groups;
            let gi = match groups.binary_search_by(|g| g.kind.cmp(&kind)) {
                Ok(gi) => gi,
                Err(gi) => {
                    let g = Group {
                        kind,
                        children: Vec::new(),
                        hash: None,
                    };
                    self.nodes[n as usize].groups.insert(gi, g);
                    gi
                }
            };
            let children = &self.nodes[n as usize].groups[gi].children;
            n = match children.binary_search_by_key(&key, |c| c.0) {
                Ok(ci) => children[ci].1,
                Err(ci) => {
                    let child = self.alloc();
                    let g = &mut self.nodes[n as usize].groups[gi];
                    g.children.insert(ci, (key, child));
                    let d = g.rehash();
                    self.slots = self.slots.saturating_add_signed(d);
                    child
                }
            };
            self.mark(n);
        }
        let acc = &mut self.nodes[n as usize].accept;
        if let Err(i) = acc.binary_search(&id) {
            acc.insert(i, id);
        }
    }

    /// Remove filter `id` with canonical `atoms`, pruning nodes left empty. Returns whether
    /// it was there.
    pub fn remove(&mut self, atoms: &[Atom], id: FilterId) -> bool {
        // (node, group index, child index) of each edge on the path.
        let mut path = Vec::with_capacity(atoms.len());
        let mut n = ROOT;
        for a in atoms {
            let (kind, key) = split(a);
            let node = &self.nodes[n as usize];
            let Ok(gi) = node.groups.binary_search_by(|g| g.kind.cmp(&kind)) else {
                return false;
            };
            let Some(ci) = node.groups[gi].find(key) else {
                return false;
            };
            path.push((n, gi, ci));
            n = node.groups[gi].children[ci].1;
        }
        let acc = &mut self.nodes[n as usize].accept;
        let Ok(i) = acc.binary_search(&id) else {
            return false;
        };
        acc.remove(i);
        self.mark(n);
        let mut child = n;
        for &(parent, gi, ci) in path.iter().rev() {
            self.mark(parent);
            let c = &self.nodes[child as usize];
            if !(c.accept.is_empty() && c.groups.is_empty()) {
                child = parent;
                continue;
            }
            self.nodes[child as usize] = Node::default();
            self.free.push(child);
            self.live -= 1;
            let groups = &mut self.nodes[parent as usize].groups;
            groups[gi].children.remove(ci);
            let d = groups[gi].rehash();
            self.slots = self.slots.saturating_add_signed(d);
            if groups[gi].children.is_empty() {
                groups.remove(gi);
            }
            child = parent;
        }
        true
    }

    /// The filter that takes `pkt` (the trie interpreter).
    pub fn classify(&self, pkt: &[u8]) -> Option<FilterId> {
        let mut best = 0;
        self.visit(ROOT, pkt, 0, 0, &mut best);
        key_id(best)
    }

    fn visit(&self, id: NodeId, pkt: &[u8], base: usize, depth: usize, best: &mut u64) {
        let node = &self.nodes[id as usize];
        if let Some(&first) = node.accept.first() {
            *best = (*best).max(match_key(depth, first));
        }
        for g in &node.groups {
            match g.kind {
                Kind::Test(field) => {
                    let Some(v) = field.load(pkt, base) else {
                        continue;
                    };
                    if let Some(ci) = g.find(v) {
                        self.visit(g.children[ci].1, pkt, base, depth + 1, best);
                    }
                }
                Kind::Shift(s) => {
                    if let (Some(b), Some(&(_, c))) = (s.apply(pkt, base), g.children.first()) {
                        self.visit(c, pkt, b, depth + 1, best);
                    }
                }
            }
        }
    }
}
