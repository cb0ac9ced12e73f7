//! The heap: a linked-list allocator over a region grown page by page with
//! the kernel's mapping calls (sbrk). An allocation attempted from an upcall
//! while the main program is inside the allocator fails instead of
//! corrupting the heap.

use crate::layout::{HEAP_BASE, HEAP_MAX};
use crate::vm::{self, PAGE_SIZE};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use linked_list_allocator::Heap;

pub struct ExoHeap {
    heap: UnsafeCell<Heap>,
    busy: AtomicBool,
    /// End of the mapped heap region.
    brk: UnsafeCell<u64>,
}

// SAFETY: one thread of control per environment; `busy` excludes reentry.
unsafe impl Sync for ExoHeap {}

impl ExoHeap {
    pub const fn new() -> Self {
        ExoHeap {
            heap: UnsafeCell::new(Heap::empty()),
            busy: AtomicBool::new(false),
            brk: UnsafeCell::new(HEAP_BASE),
        }
    }

    /// Maps `bytes` more (rounded up to pages); returns how much was added.
    fn grow(&self, bytes: u64) -> u64 {
        // SAFETY: called with `busy` held.
        let brk = unsafe { &mut *self.brk.get() };
        let want = bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let mut added = 0;
        while added < want && *brk + PAGE_SIZE <= HEAP_BASE + HEAP_MAX {
            if vm::map_fresh(*brk, true).is_err() {
                break;
            }
            *brk += PAGE_SIZE;
            added += PAGE_SIZE;
        }
        added
    }
}

impl Default for ExoHeap {
    fn default() -> Self {
        Self::new()
    }
}

/// Grows the heap by at least `bytes`; returns the old break (like sbrk).
pub fn sbrk(bytes: u64) -> Option<u64> {
    let h = &crate::rt::HEAP;
    if h.busy.swap(true, Ordering::Acquire) {
        return None;
    }
    // SAFETY: `busy` held.
    let old = unsafe { *h.brk.get() };
    let added = h.grow(bytes);
    h.busy.store(false, Ordering::Release);
    (added > 0).then_some(old)
}

unsafe impl GlobalAlloc for ExoHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.busy.swap(true, Ordering::Acquire) {
            return core::ptr::null_mut();
        }
        // SAFETY: `busy` held, so we are the only user of the heap.
        let heap = unsafe { &mut *self.heap.get() };
        let mut r = heap.allocate_first_fit(layout);
        if r.is_err() {
            let need = layout.size() as u64 + layout.align() as u64 + 64;
            // SAFETY: as above.
            let start = unsafe { *self.brk.get() };
            let added = self.grow(need.max(16 * PAGE_SIZE));
            if added > 0 {
                if heap.size() == 0 {
                    // SAFETY: the region was just mapped, writable, and is ours.
                    unsafe { heap.init(start as *mut u8, added as usize) };
                } else {
                    // SAFETY: the region just mapped directly follows the heap's top.
                    unsafe { heap.extend(added as usize) };
                }
                r = heap.allocate_first_fit(layout);
            }
        }
        self.busy.store(false, Ordering::Release);
        r.map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.busy.swap(true, Ordering::Acquire) {
            return; // freed from an upcall that interrupted the allocator: leak it
        }
        // SAFETY: `ptr` came from `alloc` with this layout; `busy` held.
        unsafe { (*self.heap.get()).deallocate(NonNull::new_unchecked(ptr), layout) };
        self.busy.store(false, Ordering::Release);
    }
}
