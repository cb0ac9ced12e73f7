//! Access to user memory from system calls. Every page is translated through
//! the current page tables with user permissions first, so a bad pointer from
//! a program is an error, never a kernel fault.

use super::{paging, phys_to_virt, PAGE_SIZE};

/// A user pointer argument named memory the caller may not access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAddress;

/// Calls `f` on each page-sized piece of the user range `[va, va + len)`.
fn for_each_chunk(
    va: u64,
    len: u64,
    write: bool,
    mut f: impl FnMut(*mut u8, usize),
) -> Result<(), BadAddress> {
    let end = va.checked_add(len).ok_or(BadAddress)?;
    // Check the whole range before touching any of it.
    let mut p = va & !(PAGE_SIZE - 1);
    while p < end {
        paging::translate_user(p, write).ok_or(BadAddress)?;
        p += PAGE_SIZE;
    }
    let mut p = va;
    while p < end {
        let n = (PAGE_SIZE - (p % PAGE_SIZE)).min(end - p);
        let pa = paging::translate_user(p, write).ok_or(BadAddress)?;
        f(phys_to_virt(pa), n as usize);
        p += n;
    }
    Ok(())
}

/// Copies user memory at `va` into `out`.
pub fn copy_in(va: u64, out: &mut [u8]) -> Result<(), BadAddress> {
    let mut done = 0;
    for_each_chunk(va, out.len() as u64, false, |src, n| {
        // SAFETY: `src` is a translated, mapped user page seen through the
        // kernel region; `n` stays within that page and within `out`.
        unsafe { core::ptr::copy_nonoverlapping(src, out[done..].as_mut_ptr(), n) };
        done += n;
    })
}

/// Copies `data` to user memory at `va`.
pub fn copy_out(va: u64, data: &[u8]) -> Result<(), BadAddress> {
    let mut done = 0;
    for_each_chunk(va, data.len() as u64, true, |dst, n| {
        // SAFETY: as in `copy_in`, with write permission checked.
        unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), dst, n) };
        done += n;
    })
}
