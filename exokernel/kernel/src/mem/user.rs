//! Access to user memory from system calls. Every page is translated through
//! the environment's page tables with user permissions first, so a bad
//! pointer from an environment is an error, never a kernel fault.

use super::{paging, phys_to_virt, PAGE_SIZE};
use x86_64::registers::control::Cr3;

/// A user pointer argument named memory the caller may not access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAddress;

fn current_pml4() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Calls `f` on each page-sized piece of the user range `[va, va + len)` of
/// the address space `pml4`, after checking the whole range.
fn for_each_chunk(
    pml4: u64,
    va: u64,
    len: u64,
    write: bool,
    mut f: impl FnMut(*mut u8, usize),
) -> Result<(), BadAddress> {
    if len == 0 {
        return Ok(()); // an empty slice may carry a dangling pointer
    }
    let end = va.checked_add(len).ok_or(BadAddress)?;
    let mut p = va & !(PAGE_SIZE - 1);
    while p < end {
        paging::translate_in(pml4, p, write).ok_or(BadAddress)?;
        p += PAGE_SIZE;
    }
    let mut p = va;
    while p < end {
        let n = (PAGE_SIZE - (p % PAGE_SIZE)).min(end - p);
        let pa = paging::translate_in(pml4, p, write).ok_or(BadAddress)?;
        f(phys_to_virt(pa), n as usize);
        p += n;
    }
    Ok(())
}

/// Copies user memory at `va` (current address space) into `out`.
pub fn copy_in(va: u64, out: &mut [u8]) -> Result<(), BadAddress> {
    let mut done = 0;
    for_each_chunk(current_pml4(), va, out.len() as u64, false, |src, n| {
        // SAFETY: `src` is a translated, mapped user page seen through the
        // kernel region; `n` stays within that page and within `out`.
        unsafe { core::ptr::copy_nonoverlapping(src, out[done..].as_mut_ptr(), n) };
        done += n;
    })
}

/// Copies `data` to user memory at `va` in the address space `pml4`.
pub fn copy_out_in(pml4: u64, va: u64, data: &[u8]) -> Result<(), BadAddress> {
    let mut done = 0;
    for_each_chunk(pml4, va, data.len() as u64, true, |dst, n| {
        // SAFETY: as in `copy_in`, with write permission checked.
        unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), dst, n) };
        done += n;
    })
}

/// Copies `data` to user memory at `va` in the current address space.
pub fn copy_out(va: u64, data: &[u8]) -> Result<(), BadAddress> {
    copy_out_in(current_pml4(), va, data)
}

/// Reads a plain-data value from user memory (current address space).
pub fn read<T: Copy + Default>(va: u64) -> Result<T, BadAddress> {
    let mut v = T::default();
    // SAFETY: T is plain data (Copy, no invariants beyond its bytes); we
    // overwrite all of its bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(&mut v as *mut T as *mut u8, core::mem::size_of::<T>())
    };
    copy_in(va, bytes)?;
    Ok(v)
}

/// Reads plain-data values from user memory (current address space) into
/// `out`, as many as it holds, without initializing it first; returns them.
pub fn read_slice<T: Copy + Default>(
    va: u64,
    out: &mut [core::mem::MaybeUninit<T>],
) -> Result<&[T], BadAddress> {
    // SAFETY: the byte view covers exactly `out`; T is plain data (Copy,
    // no invariants beyond its bytes), so once every byte is copied in (an
    // error returns before the values are used) each element is a valid T.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, core::mem::size_of_val(out))
    };
    copy_in(va, bytes)?;
    // SAFETY: every element was just written whole (see above).
    Ok(unsafe { core::slice::from_raw_parts(out.as_ptr() as *const T, out.len()) })
}

/// The bytes of a plain-data value, for `copy_out`.
pub fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: any initialized Copy value can be viewed as bytes.
    unsafe { core::slice::from_raw_parts(v as *const T as *const u8, core::mem::size_of::<T>()) }
}

/// Reads `width` (1, 2, 4, 8) aligned bytes for a wakeup predicate, through
/// the environment's page tables, including the read-only windows.
pub fn read_word_in(pml4: u64, va: u64, width: u8) -> Option<u64> {
    let pa = paging::translate_read_in(pml4, va)?;
    let p = phys_to_virt(pa);
    // SAFETY: translated and aligned (the verifier checked alignment, so the
    // read stays inside one page).
    unsafe {
        Some(match width {
            1 => p.read_volatile() as u64,
            2 => (p as *const u16).read_volatile() as u64,
            4 => (p as *const u32).read_volatile() as u64,
            _ => (p as *const u64).read_volatile(),
        })
    }
}
