//! The program's memory: its heap (`brk`), anonymous mappings, and what a
//! fork copies or an exec throws away.

use super::nr::*;
use super::stack::{STACK_SIZE, STACK_TOP};
use crate::sys;
use crate::vm::{self, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::layout::USER_TOP;

/// Where anonymous mappings go (upward).
const MMAP_BASE: u64 = 0x2000_0000_0000;
/// Lowest address a program's segments may use.
const LOAD_BASE: u64 = 0x1_0000;

static BRK_START: AtomicU64 = AtomicU64::new(0);
static BRK_NOW: AtomicU64 = AtomicU64::new(0);
static MMAP_NEXT: AtomicU64 = AtomicU64::new(MMAP_BASE);

pub fn init(brk: u64) {
    BRK_START.store(brk, Ordering::Relaxed);
    BRK_NOW.store(brk, Ordering::Relaxed);
    MMAP_NEXT.store(MMAP_BASE, Ordering::Relaxed);
}

/// The program's private memory (segments and heap, mappings, stack): a
/// forked child gets a copy-on-write copy of it.
pub fn regions() -> [(u64, u64); 3] {
    [
        (LOAD_BASE, super::load::LOAD_LIMIT),
        (MMAP_BASE, MMAP_NEXT.load(Ordering::Relaxed)),
        (STACK_TOP - STACK_SIZE, STACK_TOP),
    ]
}

/// Unmaps (and frees, if no one else maps them) all of the program's
/// memory: an exec is about to load another.
pub fn release_all() {
    for (lo, hi) in regions() {
        let pages: alloc::vec::Vec<(u64, u64)> = crate::info::mapped(lo, hi).collect();
        for (va, _) in pages {
            free_page(va);
        }
    }
}

fn free_page(va: u64) {
    if let Some(ppn) = vm::ppn_of(va) {
        // A page shared copy-on-write with a parent or child stays theirs.
        let ours = crate::info::page(ppn).is_some_and(|p| p.owner == sys::env_id());
        if vm::unmap(va).is_ok() && ours {
            let _ = sys::p_free(ppn, 0);
        }
    }
}

const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const PROT_EXEC: u64 = 4;

const MAP_SHARED: u64 = 0x01;

/// Anonymous mappings (zeroed pages) and private mappings of a file (its
/// bytes from `off` read in now, zeros past its end); writable either way.
/// A shared mapping of a file is refused: its writes would have to reach
/// the file.
pub fn mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: i64, off: u64) -> i64 {
    let file = flags & MAP_ANONYMOUS == 0;
    if file && (flags & MAP_SHARED != 0 && prot & 2 != 0) {
        return -ENODEV;
    }
    if file && (crate::fd::get(fd as usize).is_err() || !off.is_multiple_of(PAGE_SIZE)) {
        return if off.is_multiple_of(PAGE_SIZE) {
            -EBADF
        } else {
            -EINVAL
        };
    }
    let Some(len) = len
        .checked_next_multiple_of(PAGE_SIZE)
        .filter(|&l| l > 0 && l < 1 << 40)
    else {
        return -EINVAL;
    };
    let at = if flags & MAP_FIXED != 0 {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return -EINVAL;
        }
        addr
    } else {
        MMAP_NEXT.fetch_add(len, Ordering::Relaxed)
    };
    if at.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return -ENOMEM;
    }
    let mut va = at;
    while va < at + len {
        free_page(va); // MAP_FIXED replaces what was there
        let r = vm::alloc_page(0).and_then(|ppn| {
            vm::apply(&[vm::map_op(va, ppn, true, prot & PROT_EXEC != 0, 0)]).map_err(|e| e.1)
        });
        if r.is_err() {
            return -ENOMEM;
        }
        va += PAGE_SIZE;
    }
    if file {
        return match fill_from(fd as usize, at, len, off) {
            Ok(()) => at as i64,
            Err(e) => {
                munmap(at, len);
                e
            }
        };
    }
    at as i64
}

/// Reads the file behind `fd` from `off` into `[at, at + len)` (mapped
/// here, writable), leaving its position as it was.
fn fill_from(fd: usize, at: u64, len: u64, off: u64) -> Result<(), i64> {
    let was = crate::fd::position(fd).map_err(|_| -EBADF)?;
    crate::fd::seek(fd, off).map_err(|_| -ENODEV)?;
    let mut done = 0;
    let r = loop {
        if done >= len {
            break Ok(());
        }
        // SAFETY: `[at, at + len)` was just mapped writable in this space.
        let dst = unsafe {
            core::slice::from_raw_parts_mut((at + done) as *mut u8, (len - done) as usize)
        };
        match crate::fd::read(fd, dst) {
            Ok(0) => break Ok(()),
            Ok(n) => done += n as u64,
            Err(_) => break Err(-EIO),
        }
    };
    let _ = crate::fd::seek(fd, was);
    r
}

pub fn munmap(addr: u64, len: u64) -> i64 {
    if !addr.is_multiple_of(PAGE_SIZE) || addr.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return -EINVAL;
    }
    let mut va = addr;
    while va < addr + len {
        free_page(va);
        va += PAGE_SIZE;
    }
    0
}

/// The heap after the program's data: grows by mapping zeroed pages.
pub fn brk(want: u64) -> i64 {
    let now = BRK_NOW.load(Ordering::Relaxed);
    if want <= BRK_START.load(Ordering::Relaxed) || want > super::load::LOAD_LIMIT {
        return now as i64;
    }
    let mapped_to = now.next_multiple_of(PAGE_SIZE);
    let mut va = mapped_to;
    while va < want {
        // (pages of a heap that shrank are still mapped)
        if vm::ppn_of(va).is_none() && vm::map_fresh(va, true).is_err() {
            return now as i64;
        }
        va += PAGE_SIZE;
    }
    BRK_NOW.store(want, Ordering::Relaxed);
    want as i64
}
