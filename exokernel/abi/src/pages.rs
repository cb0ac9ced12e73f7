//! Physical page records, exposed read-only to every environment at
//! [`crate::layout::UPAGES`] (index = physical page number). A record whose
//! owner is [`FREE`] is on the free list: `p_alloc` names such a page.

use crate::cap::Cap;

/// Owner value of a free page.
pub const FREE: u32 = 0;
/// Owner value of pages the kernel keeps (its image, page tables, records).
pub const KERNEL: u32 = u32::MAX;
/// Owner value of pages that are not RAM (holes, firmware, MMIO).
pub const NOT_RAM: u32 = u32::MAX - 1;
/// Owner value of a page whose owner ended while others still map it.
pub const ORPHAN: u32 = u32::MAX - 2;
/// Owner value of pages every environment may map read-only and none may
/// change, free or grant: the initrd's, which every environment can read
/// already, so that a library OS maps a program's text from it rather than
/// copying it.
pub const PUBLIC: u32 = u32::MAX - 3;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageInfo {
    /// Owning environment id, or one of the constants above.
    pub owner: u32,
    /// Number of user mappings of this page (in any environment).
    pub refs: u32,
    /// The capability a caller must dominate to map, free or grant the page.
    pub guard: Cap,
    /// Whoever holds a capability allowing this one with read permission
    /// may also map the page read-only (Xok's page ACL; NONE: nobody).
    pub reader: Cap,
}
