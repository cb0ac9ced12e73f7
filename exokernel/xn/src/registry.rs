//! The buffer cache registry (§4.4): which disk block is cached in which physical page,
//! with its type, parent and state. It records the mapping, not the data: pages belong
//! to a [`PageStore`] (physical pages in the kernel, `Vec`s on the host). Entries can
//! exist without a page ("out of core") and before their type is known.
//!
//! Environments see the registry read-only: [`Registry::get`] / [`Registry::iter`] hand
//! out the fixed-layout [`XrAttr`] records the kernel maps into their address spaces.

use crate::owns::OwnsSet;
use crate::{Block, Db, TypeId, BLOCK_SIZE};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A physical page as the page store names it (a physical page number in the kernel).
pub type PageId = u64;

/// Where cached blocks live.
pub trait PageStore {
    fn alloc(&mut self) -> Option<PageId>;
    fn free(&mut self, p: PageId);
    fn page(&self, p: PageId) -> Option<&Block>;
    fn page_mut(&mut self, p: PageId) -> Option<&mut Block>;
}

/// Host page store: boxed pages in a vector.
#[derive(Default)]
pub struct VecPageStore {
    pages: Vec<Option<Box<Block>>>,
    free: Vec<usize>,
    /// Refuse allocations beyond this many live pages (tests of "no pages").
    pub limit: Option<usize>,
}

impl VecPageStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn live(&self) -> usize {
        self.pages.len() - self.free.len()
    }
}

impl PageStore for VecPageStore {
    fn alloc(&mut self) -> Option<PageId> {
        if self.limit.is_some_and(|l| self.live() >= l) {
            return None;
        }
        let page = Box::new([0u8; BLOCK_SIZE]);
        match self.free.pop() {
            Some(i) => {
                self.pages[i] = Some(page);
                Some(i as PageId)
            }
            None => {
                self.pages.push(Some(page));
                Some(self.pages.len() as PageId - 1)
            }
        }
    }
    fn free(&mut self, p: PageId) {
        if let Some(slot) = self.pages.get_mut(p as usize) {
            if slot.take().is_some() {
                self.free.push(p as usize);
            }
        }
    }
    fn page(&self, p: PageId) -> Option<&Block> {
        self.pages.get(p as usize).and_then(|s| s.as_deref())
    }
    fn page_mut(&mut self, p: PageId) -> Option<&mut Block> {
        self.pages
            .get_mut(p as usize)
            .and_then(|s| s.as_deref_mut())
    }
}

/// Registry state bits (`XrAttr::state`).
pub mod state {
    /// In-core copy differs from disk.
    pub const DIRTY: u16 = 1;
    /// No page: the attribute is known, the data is not cached.
    pub const OUT_OF_CORE: u16 = 2;
    /// Allocated but never written: the disk holds garbage, not this block.
    pub const UNINIT: u16 = 4;
    /// Locked by `locked_by` (atomic multi-step updates, §4.4).
    pub const LOCKED: u16 = 8;
    /// Points to uninitialized blocks: may not be written while in a persistent tree.
    pub const TAINTED: u16 = 16;
    /// In a temporary (volatile) tree.
    pub const TEMPORARY: u16 = 32;
}

/// No parent / no root / no page.
pub const NONE: u64 = u64::MAX;

/// One registry entry as environments see it (fixed layout: the kernel maps an array).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct XrAttr {
    pub db: u64,
    /// The metadata block that owns this one ([`NONE`] for roots and unbound blocks).
    pub parent: u64,
    /// The physical page ([`NONE`] when out of core).
    pub page: u64,
    /// Environment holding the lock (0: none).
    pub locked_by: u64,
    pub ty: u16,
    pub state: u16,
    /// Root catalogue slot of the tree ([`NONE`] as u16::MAX when unbound).
    pub root: u16,
    pub _pad: u16,
}

impl XrAttr {
    pub fn has(&self, bit: u16) -> bool {
        self.state & bit != 0
    }
    pub fn type_id(&self) -> TypeId {
        TypeId(self.ty)
    }
    pub fn page(&self) -> Option<PageId> {
        (self.page != NONE).then_some(self.page)
    }
}

/// A registry entry: the exported attribute plus XN-private bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub attr: XrAttr,
    /// owns of the block's on-disk image (metadata only): which on-disk pointers this
    /// block holds, for the will-free accounting. `None` until known.
    pub disk_owns: Option<OwnsSet>,
}

#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<Db, Entry>,
}

impl Registry {
    pub fn get(&self, db: Db) -> Option<&XrAttr> {
        self.entries.get(&db).map(|e| &e.attr)
    }

    pub fn iter(&self) -> impl Iterator<Item = &XrAttr> {
        self.entries.values().map(|e| &e.attr)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Copy attributes into `out` (the kernel's read-only mapped array); returns how many.
    pub fn export(&self, out: &mut [XrAttr]) -> usize {
        let mut n = 0;
        for (slot, e) in out.iter_mut().zip(self.entries.values()) {
            *slot = e.attr;
            n += 1;
        }
        n
    }

    /// Drops every lock `env` holds; how many.
    pub(crate) fn unlock_all(&mut self, env: u64) -> usize {
        let mut n = 0;
        for e in self
            .entries
            .values_mut()
            .filter(|e| e.attr.has(state::LOCKED) && e.attr.locked_by == env)
        {
            e.attr.state &= !state::LOCKED;
            e.attr.locked_by = 0;
            n += 1;
        }
        n
    }

    pub(crate) fn entry_mut(&mut self, db: Db) -> Option<&mut Entry> {
        self.entries.get_mut(&db)
    }

    pub(crate) fn insert(&mut self, e: Entry) {
        crate::trace::emit(crate::trace::Event::RegistryInsert {
            db: e.attr.db,
            ty: e.attr.ty,
        });
        self.entries.insert(e.attr.db, e);
    }

    pub(crate) fn remove(&mut self, db: Db) -> Option<Entry> {
        let e = self.entries.remove(&db);
        if e.is_some() {
            crate::trace::emit(crate::trace::Event::RegistryEvict { db });
        }
        e
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub(crate) fn new_attr(db: Db, ty: TypeId, state: u16) -> XrAttr {
        XrAttr {
            db,
            parent: NONE,
            page: NONE,
            locked_by: 0,
            ty: ty.0,
            state,
            root: u16::MAX,
            _pad: 0,
        }
    }
}
