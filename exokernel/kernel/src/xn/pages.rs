//! The buffer cache's pages: kernel-owned physical pages, named by page
//! number (so the registry can later be mapped read-only for environments).

use crate::mem::{frames, phys_to_virt, PAGE_SIZE};
use exo_xn::{Block, PageId, PageStore};

pub struct KernelPages;

impl PageStore for KernelPages {
    fn alloc(&mut self) -> Option<PageId> {
        frames::alloc().map(|pa| pa / PAGE_SIZE)
    }

    fn free(&mut self, p: PageId) {
        frames::free(p * PAGE_SIZE);
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
