//! Taint tracking (§4.4, ordered writes rule 2: never create a persistent pointer to a
//! structure before it is initialized).
//!
//! A freshly allocated block is *uninitialized* until its first write reaches the disk.
//! A block holding a pointer to an uninitialized block is *tainted* and may not be
//! written while it belongs to a persistent tree. The thesis also calls a block tainted
//! when it points to a tainted block; we record exactly that case too (an edge is kept
//! while its target is uninitialized *or* tainted), so a whole fresh subtree must reach
//! disk bottom-up. An edge to a block that was already initialized when the edge formed
//! is not recorded: that block's on-disk image is valid whatever its in-core children.

use crate::Db;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

#[derive(Default, Debug)]
pub struct Taint {
    uninit: BTreeSet<Db>,
    /// parent → the bad children it points to.
    kids: BTreeMap<Db, BTreeSet<Db>>,
    /// child → the parents recorded as pointing to it.
    parents: BTreeMap<Db, BTreeSet<Db>>,
}

impl Taint {
    pub fn is_uninit(&self, b: Db) -> bool {
        self.uninit.contains(&b)
    }

    pub fn is_tainted(&self, b: Db) -> bool {
        self.kids.get(&b).is_some_and(|k| !k.is_empty())
    }

    /// Uninitialized or tainted: pointing to it taints the pointer's block.
    pub fn is_bad(&self, b: Db) -> bool {
        self.is_uninit(b) || self.is_tainted(b)
    }

    /// The bad children `b` points to.
    pub fn bad_kids(&self, b: Db) -> Vec<Db> {
        self.kids
            .get(&b)
            .map(|k| k.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn mark_uninit(&mut self, b: Db) {
        self.uninit.insert(b);
    }

    /// `parent` now points to `kid`: record it if `kid` is bad.
    pub fn add_pointer(&mut self, parent: Db, kid: Db) {
        if self.is_bad(kid) {
            self.kids.entry(parent).or_default().insert(kid);
            self.parents.entry(kid).or_default().insert(parent);
        }
    }

    /// `parent` no longer points to `kid`. Returns blocks that became clean.
    pub fn remove_pointer(&mut self, parent: Db, kid: Db) -> Vec<Db> {
        let was_bad = self.is_bad(parent);
        if let Some(k) = self.kids.get_mut(&parent) {
            k.remove(&kid);
            if k.is_empty() {
                self.kids.remove(&parent);
            }
        }
        if let Some(p) = self.parents.get_mut(&kid) {
            p.remove(&parent);
            if p.is_empty() {
                self.parents.remove(&kid);
            }
        }
        let mut clean = Vec::new();
        if was_bad && !self.is_bad(parent) {
            self.propagate_clean(parent, &mut clean);
        }
        clean
    }

    /// `b` reached the disk: it is initialized. Returns blocks that became clean.
    pub fn written(&mut self, b: Db) -> Vec<Db> {
        let mut clean = Vec::new();
        if self.uninit.remove(&b) && !self.is_tainted(b) {
            self.propagate_clean(b, &mut clean);
        }
        clean
    }

    /// `b` is freed: forget every edge from or to it. Returns blocks that became clean.
    pub fn forget(&mut self, b: Db) -> Vec<Db> {
        self.uninit.remove(&b);
        let mut clean = Vec::new();
        for k in self.bad_kids(b) {
            clean.extend(self.remove_pointer(b, k));
        }
        let parents: Vec<Db> = self
            .parents
            .get(&b)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default();
        for p in parents {
            clean.extend(self.remove_pointer(p, b));
        }
        clean.retain(|&x| x != b);
        clean
    }

    /// `b` stopped being bad: its parents lose the edge, and may become clean in turn.
    fn propagate_clean(&mut self, b: Db, clean: &mut Vec<Db>) {
        let mut work = alloc::vec![b];
        while let Some(x) = work.pop() {
            clean.push(x);
            let parents: Vec<Db> = self
                .parents
                .remove(&x)
                .map(|p| p.into_iter().collect())
                .unwrap_or_default();
            for p in parents {
                let emptied = match self.kids.get_mut(&p) {
                    Some(k) => {
                        k.remove(&x);
                        k.is_empty()
                    }
                    None => false,
                };
                if emptied {
                    self.kids.remove(&p);
                    if self.is_uninit(p) {
                        // No longer tainted, though still bad itself: its
                        // TAINTED bit must be refreshed, its parents keep
                        // their edge to it.
                        clean.push(p);
                    } else {
                        work.push(p);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uninitialized_parent_losing_its_last_bad_kid_is_refreshed() {
        let mut t = Taint::default();
        t.mark_uninit(10);
        t.mark_uninit(11);
        t.add_pointer(10, 11);
        assert!(t.is_tainted(10));
        let clean = t.written(11);
        assert!(clean.contains(&10), "the parent's TAINTED bit is refreshed");
        assert!(!t.is_tainted(10) && t.is_uninit(10));
    }

    #[test]
    fn chain_cleans_bottom_up() {
        let mut t = Taint::default();
        // root 1 → new 2 → new 3
        t.mark_uninit(2);
        t.add_pointer(1, 2);
        t.mark_uninit(3);
        t.add_pointer(2, 3);
        assert!(t.is_tainted(1) && t.is_tainted(2) && t.is_uninit(3));
        t.written(3);
        assert!(!t.is_uninit(3) && !t.is_tainted(2) && t.is_uninit(2) && t.is_tainted(1));
        t.written(2);
        assert!(!t.is_tainted(1));
    }

    #[test]
    fn written_while_tainted_stays_bad() {
        let mut t = Taint::default();
        t.mark_uninit(2);
        t.add_pointer(1, 2);
        t.mark_uninit(3);
        t.add_pointer(2, 3);
        // 2 "written" out of order (a temporary tree may do it): still tainted via 3.
        t.written(2);
        assert!(t.is_tainted(2) && t.is_tainted(1));
        t.written(3);
        assert!(!t.is_tainted(2) && !t.is_tainted(1));
    }

    #[test]
    fn forget_and_remove() {
        let mut t = Taint::default();
        t.mark_uninit(2);
        t.add_pointer(1, 2);
        assert_eq!(t.forget(2), alloc::vec![1]);
        assert!(!t.is_tainted(1));
        t.mark_uninit(5);
        t.add_pointer(4, 5);
        t.remove_pointer(4, 5);
        assert!(!t.is_tainted(4) && t.is_uninit(5));
        // An initialized target taints nobody.
        t.add_pointer(6, 7);
        assert!(!t.is_tainted(6));
    }
}
