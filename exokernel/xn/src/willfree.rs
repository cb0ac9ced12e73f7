//! The will-free list (§4.5, ordered writes rule 1: never reuse a block before every
//! on-disk pointer to it is gone). A freed block whose parent's *on-disk* image still
//! points to it waits here with the number of such on-disk pointers; each writeback of a
//! parent that drops the pointer decrements it, and at zero the block joins the free map.

use crate::Db;
use alloc::collections::BTreeMap;

#[derive(Default, Debug)]
pub struct WillFree {
    pending: BTreeMap<Db, u32>,
}

impl WillFree {
    pub fn contains(&self, b: Db) -> bool {
        self.pending.contains_key(&b)
    }

    pub fn add(&mut self, b: Db, disk_pointers: u32) {
        self.pending.insert(b, disk_pointers);
    }

    /// An on-disk pointer to `b` was removed. True if `b` may now be freed.
    pub fn pointer_gone(&mut self, b: Db) -> bool {
        match self.pending.get_mut(&b) {
            Some(n) if *n <= 1 => {
                self.pending.remove(&b);
                true
            }
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Db, u32)> + '_ {
        self.pending.iter().map(|(&b, &n)| (b, n))
    }
}
