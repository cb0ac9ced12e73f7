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
