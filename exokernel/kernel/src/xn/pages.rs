//! The buffer cache's pages: kernel-owned physical pages, named by page
//! number (so the registry can later be mapped read-only for environments).

//!
//! The cache is bounded: it never holds more than [`limit`] pages, which
//! the kernel keeps out of every environment's budget, so that filling it
//! takes nothing from anyone. While the reader lives, each page is also
//! charged to it (see `calls`).

use crate::mem::{frames, phys_to_virt, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_xn::{Block, PageId, PageStore};

/// Pages the cache holds now, and at most.
static HELD: AtomicU64 = AtomicU64::new(0);
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// What XN's bookkeeping for one cached block may take of the kernel heap
/// at most (registry entry, owns set), with room to spare.
const HEAP_PER_BLOCK: u64 = 512;

/// Whether the kernel heap can take XN's bookkeeping for `blocks` more
/// blocks and still keep an eighth free: a call that may add them is
/// refused otherwise, so no XN call can exhaust the heap.
pub fn heap_has_room(blocks: u64) -> bool {
    let heap = crate::mem::heap::size() as u64;
    let need = blocks
        .saturating_mul(HEAP_PER_BLOCK)
        .saturating_add(heap / 8);
    crate::mem::heap::free() as u64 >= need
}

/// The cache's share of `free` pages at boot: a quarter, and no more than
/// the kernel heap can keep track of.
pub fn set_limit(free: u64) -> u64 {
    let heap = crate::mem::heap::size() as u64;
    let limit = (free / 4).min(heap / 2 / HEAP_PER_BLOCK);
    LIMIT.store(limit, Ordering::Relaxed);
    limit
}

/// Pages the cache may still take.
pub fn room() -> u64 {
    LIMIT.load(Ordering::Relaxed).saturating_sub(held())
}

/// Pages the cache holds now.
pub fn held() -> u64 {
    HELD.load(Ordering::Relaxed)
}

pub struct KernelPages;

impl PageStore for KernelPages {
    fn alloc(&mut self) -> Option<PageId> {
        if held() >= LIMIT.load(Ordering::Relaxed) {
            return None;
        }
        let ppn = frames::alloc()? / PAGE_SIZE;
        HELD.fetch_add(1, Ordering::Relaxed);
        Some(ppn)
    }

    fn free(&mut self, p: PageId) {
        // A page a libFS supplied was never counted here: stay at zero.
        let _ = HELD.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| h.checked_sub(1));
        // A page environments map is freed once they no longer do.
        if !super::maps::condemn(p) {
            frames::free(p * PAGE_SIZE);
        }
    }

    fn page(&self, p: PageId) -> Option<&Block> {
        // SAFETY: `p` came from `alloc` (XN only names pages it got from us)
        // and stays the kernel's until `free`; all RAM is mapped.
        Some(unsafe { &*(phys_to_virt(p * PAGE_SIZE) as *const Block) })
    }

    fn page_mut(&mut self, p: PageId) -> Option<&mut Block> {
        // SAFETY: as for `page`; `&mut self` makes the access exclusive.
        Some(unsafe { &mut *(phys_to_virt(p * PAGE_SIZE) as *mut Block) })
    }
}
