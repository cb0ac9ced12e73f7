//! The initrd as files: read-only, mapped by the kernel in every process.

use crate::info;
use exo_abi::layout::UINITRD;

/// The whole archive.
pub fn archive() -> &'static [u8] {
    let s = info::sysinfo();
    // SAFETY: the kernel maps `initrd_size` bytes read-only at UINITRD + offset.
    unsafe {
        core::slice::from_raw_parts(
            (UINITRD + s.initrd_offset) as *const u8,
            s.initrd_size as usize,
        )
    }
}

/// The contents of `path`, if the initrd has it.
pub fn open(path: &str) -> Option<&'static [u8]> {
    exo_abi::initrd::find(archive(), path)
}

/// Every file: `(path without leading '/', contents)`.
pub fn files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    exo_abi::initrd::entries(archive())
}

/// The physical page holding the initrd's bytes at `addr`, if `addr` starts
/// a page of the initrd and the kernel made that page public (anyone maps
/// it read-only): a program's read-only pages are mapped from there, not
/// copied (its bytes start on a page; see `exo_images::cpio`).
pub fn public_frame(addr: u64) -> Option<u64> {
    if !addr.is_multiple_of(4096) {
        return None;
    }
    let ppn = crate::vm::ppn_of(addr)?;
    info::page(ppn)
        .is_some_and(|p| p.owner == exo_abi::pages::PUBLIC)
        .then_some(ppn)
}
