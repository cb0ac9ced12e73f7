//! The program's memory as system-call arguments: each range is checked
//! mapped in this address space (and writable where written) before use,
//! pages of the program not paged in yet being paged in, or the call fails
//! with EFAULT.

use crate::vm::PAGE_SIZE;
use alloc::string::String;
use alloc::vec::Vec;
use exo_abi::layout::{pte, USER_TOP};

/// Whether `[p, p + len)` is mapped here (and writable if `write`).
fn mapped(p: u64, len: u64, write: bool) -> bool {
    let Some(end) = p.checked_add(len).filter(|&e| e <= USER_TOP) else {
        return false;
    };
    let mut page = p & !(PAGE_SIZE - 1);
    while page < end {
        let mut e = crate::info::pte(page);
        if e & pte::PRESENT == 0 && super::mem::fault_in(page, write) {
            e = crate::info::pte(page);
        }
        if e & pte::PRESENT == 0 || (write && e & (pte::WRITABLE | crate::fork::PTE_COW) == 0) {
            return false;
        }
        page += PAGE_SIZE;
    }
    true
}

pub fn input(p: u64, len: u64) -> Option<&'static [u8]> {
    // SAFETY: the range is mapped in this address space (checked); the
    // program's memory, which only it and this handler (on its behalf) use.
    mapped(p, len, false)
        .then(|| unsafe { core::slice::from_raw_parts(p as *const u8, len as usize) })
}

pub fn output(p: u64, len: u64) -> Option<&'static mut [u8]> {
    // SAFETY: as for `input`, mapped writable (or copy-on-write: writing
    // takes the fault the library OS resolves).
    mapped(p, len, true)
        .then(|| unsafe { core::slice::from_raw_parts_mut(p as *mut u8, len as usize) })
}

/// The little-endian word at `p`.
pub fn word(p: u64) -> Option<u64> {
    let b = input(p, 8)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Writes `bytes` at `p`; false if it is not writable memory.
pub fn put(p: u64, bytes: &[u8]) -> bool {
    output(p, bytes.len() as u64)
        .map(|o| o.copy_from_slice(bytes))
        .is_some()
}

/// A NUL-terminated string of at most 4 KiB (a path).
pub fn c_string(p: u64) -> Option<&'static str> {
    let mut len = 0;
    while len < 4096 {
        let b = input(p + len, 1)?;
        if b[0] == 0 {
            return core::str::from_utf8(input(p, len)?).ok();
        }
        len += 1;
    }
    None
}

/// Most strings and bytes an argument or environment vector may hold.
const MAX_STRINGS: usize = 4096;
const MAX_BYTES: usize = 256 * 1024;

/// A NULL-terminated array of strings (argv, envp), copied; `None` if any
/// part is not readable or it is too big. A null array is empty.
pub fn strings(p: u64) -> Option<Vec<String>> {
    let mut v = Vec::new();
    let mut bytes = 0;
    if p == 0 {
        return Some(v);
    }
    for i in 0..MAX_STRINGS as u64 {
        let s = word(p + i * 8)?;
        if s == 0 {
            return Some(v);
        }
        let s = c_string(s)?;
        bytes += s.len() + 1;
        if bytes > MAX_BYTES {
            return None;
        }
        v.push(String::from(s));
    }
    None
}
