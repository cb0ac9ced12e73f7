//! The heap: a linked-list allocator over a region grown page by page with
//! the kernel's mapping calls (sbrk). An allocation attempted from an upcall
//! while the main program is inside the allocator fails instead of
//! corrupting the heap.

use crate::cell::Exclusive;
use crate::layout::{HEAP_BASE, HEAP_MAX};
use crate::vm::{self, PAGE_SIZE};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;

pub struct ExoHeap(Exclusive<State>);

struct State {
    heap: Heap,
    /// End of the mapped heap region.
    brk: u64,
}

impl State {
    /// Maps `bytes` more (rounded up to pages); returns how much was added.
    fn grow(&mut self, bytes: u64) -> u64 {
        let want = bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let mut added = 0;
        while added < want && self.brk + PAGE_SIZE <= HEAP_BASE + HEAP_MAX {
            if vm::map_fresh(self.brk, true).is_err() {
                break;
            }
            self.brk += PAGE_SIZE;
            added += PAGE_SIZE;
        }
        added
    }

    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let mut r = self.heap.allocate_first_fit(layout);
        if r.is_err() {
            let need = layout.size() as u64 + layout.align() as u64 + 64;
            let start = self.brk;
            let added = self.grow(need.max(16 * PAGE_SIZE));
            if added > 0 {
                if self.heap.size() == 0 {
                    // SAFETY: `grow` just mapped [start, start + added),
                    // writable, and nothing else uses it.
                    unsafe { self.heap.init(start as *mut u8, added as usize) };
                } else {
                    // SAFETY: the pages just mapped directly follow the
                    // heap's top (the heap only ever grows at `brk`).
                    unsafe { self.heap.extend(added as usize) };
                }
                r = self.heap.allocate_first_fit(layout);
            }
        }
        r.map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }
}

impl ExoHeap {
    pub const fn new() -> Self {
        ExoHeap(Exclusive::new(State {
            heap: Heap::empty(),
            brk: HEAP_BASE,
        }))
    }
}

impl Default for ExoHeap {
    fn default() -> Self {
        Self::new()
    }
}

/// Grows the heap by at least `bytes`; returns the old break (like sbrk).
pub fn sbrk(bytes: u64) -> Option<u64> {
    crate::rt::HEAP
        .0
        .try_with(|s| {
            let old = s.brk;
            (s.grow(bytes) > 0).then_some(old)
        })
        .flatten()
}

// SAFETY: `alloc` returns null or a block of the layout's size and
// alignment from `Heap`, which hands out each block once until `dealloc`
// gives it back; `Exclusive` keeps a reentrant call (an upcall) out.
unsafe impl GlobalAlloc for ExoHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .try_with(|s| s.alloc(layout))
            .unwrap_or(core::ptr::null_mut())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Freed from an upcall that interrupted the allocator: leaked.
        self.0.try_with(|s| {
            // SAFETY: the caller passes a block `alloc` returned (so not
            // null) with this layout.
            unsafe { s.heap.deallocate(NonNull::new_unchecked(ptr), layout) }
        });
    }
}
