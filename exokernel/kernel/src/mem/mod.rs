//! Physical memory and page tables.

pub mod calls;
pub mod frames;
pub mod heap;
pub mod paging;
pub mod user;

use exo_abi::boot::KERNEL_BASE;

pub const PAGE_SIZE: u64 = 4096;

/// The kernel-region address of a physical address (all RAM is mapped there).
pub fn phys_to_virt(pa: u64) -> *mut u8 {
    (KERNEL_BASE + pa) as *mut u8
}

/// The physical address of a kernel-region address.
pub fn virt_to_phys(va: u64) -> u64 {
    va - KERNEL_BASE
}
