//! The kernel heap: a fixed run of RAM taken at boot, for the bookkeeping
//! that grows with use (XN's registry, catalogue and free map). Nothing an
//! environment asks for is allocated here without a bound.

use super::{frames, phys_to_virt, PAGE_SIZE};
use linked_list_allocator::LockedHeap;

/// At most 8 MiB (XN's free map of a 4 GiB disk is 128 KiB; the registry
/// grows by a few dozen bytes per cached block), at most 1/16 of RAM.
const MAX_PAGES: u64 = 2048;
const MIN_PAGES: u64 = 128;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Sets up the heap for a machine with `usable` bytes of RAM.
pub fn init(usable: u64) -> Result<(), &'static str> {
    let pages = (usable / PAGE_SIZE / 16).clamp(MIN_PAGES, MAX_PAGES);
    let pa = frames::alloc_contiguous(pages).ok_or("no memory for the kernel heap")?;
    // SAFETY: a fresh contiguous run of RAM kept by the kernel for good,
    // mapped in the kernel region; handed to the allocator once.
    unsafe {
        HEAP.lock()
            .init(phys_to_virt(pa), (pages * PAGE_SIZE) as usize)
    };
    Ok(())
}

/// The heap's physical range (DPF's compiled code runs from it).
pub fn range() -> (u64, u64) {
    let h = HEAP.lock();
    let start = super::virt_to_phys(h.bottom() as u64);
    (start, start + h.size() as u64)
}

/// The heap's size in bytes.
pub fn size() -> usize {
    HEAP.lock().size()
}

/// Bytes of the heap not in use.
pub fn free() -> usize {
    HEAP.lock().free()
}
