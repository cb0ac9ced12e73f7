//! The program's memory: its heap (`brk`), anonymous mappings, and what a
//! fork copies or an exec throws away. The stack and the heap are
//! zero-filled on first touch, as Linux does: an exec maps only what the
//! new program's initial frame needs, and a `brk` maps nothing.

use super::nr::*;
use super::stack::{STACK_SIZE, STACK_TOP};
use crate::sys;
use crate::vm::{self, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::layout::{pte, USER_TOP};

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

/// Pages the program touches for the first time: its segments' pages
/// from the initrd (`load::fault_in`), and zeroed pages of its stack and
/// heap. Whether `va`'s page was one and is mapped now. Called on a page
/// fault (`write`: a write's) and before a system call uses the program's
/// memory (`write`: to write it).
pub fn fault_in(va: u64, write: bool) -> bool {
    super::load::fault_in(va, write) || zero_fill(va)
}

/// Maps a zeroed page at `va` if it lies in the stack or the heap (below
/// the break) and nothing is mapped there yet.
fn zero_fill(va: u64) -> bool {
    let page = va & !(PAGE_SIZE - 1);
    let stack = STACK_TOP - STACK_SIZE..STACK_TOP;
    let heap = BRK_START.load(Ordering::Relaxed)..BRK_NOW.load(Ordering::Relaxed);
    (stack.contains(&page) || heap.contains(&page))
        && vm::ppn_of(page).is_none()
        && vm::map_fresh(page, true).is_ok()
}

/// Unmaps (and frees, if no one else maps them) all of the program's
/// memory: an exec is about to load another.
pub fn release_all() {
    for (lo, hi) in regions() {
        release(lo, hi);
    }
}

/// Unmaps `[lo, hi)` in batched calls, freeing the pages that are ours.
fn release(lo: u64, hi: u64) {
    let me = sys::env_id();
    let mut b = vm::Batch::own();
    let mut ours = alloc::vec::Vec::new();
    let pages: alloc::vec::Vec<(u64, u64)> = crate::info::mapped(lo, hi).collect();
    for (va, e) in pages {
        let ppn = (e & pte::ADDR_MASK) / PAGE_SIZE;
        // A page shared copy-on-write with a parent or child stays theirs.
        if crate::info::page(ppn).is_some_and(|p| p.owner == me) {
            ours.push(ppn);
        }
        if b.add(vm::unmap_op(va)).is_err() {
            break;
        }
    }
    if b.flush().is_ok() {
        for ppn in ours {
            let _ = sys::p_free(ppn, 0);
        }
    }
}

fn free_page(va: u64) {
    release(va, va + PAGE_SIZE);
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
    release(at, at + len); // MAP_FIXED replaces what was there
    if vm::map_fresh_range(at, at + len, true, prot & PROT_EXEC != 0).is_err() {
        release(at, at + len);
        return -ENOMEM;
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
    release(addr, addr + len);
    0
}

const MREMAP_MAYMOVE: u64 = 1;
/// Page-table operations sent to the kernel in one call.
const BATCH: usize = 64;

/// Maps zeroed writable pages over `[at, at + len)`.
fn map_zeroed(at: u64, len: u64) -> Result<(), i64> {
    vm::map_fresh_range(at, at + len, true, false).map_err(|_| -ENOMEM)
}

/// Grows or shrinks an anonymous mapping. One that must move takes its
/// pages along: they are mapped at the new place and unmapped at the old,
/// in batched calls, never copied (musl's realloc of a large block lands
/// here, and with a copy each growth cost the whole block again). Pages
/// still shared copy-on-write with a parent or child are copied.
pub fn mremap(old: u64, old_len: u64, new_len: u64, flags: u64) -> i64 {
    let round = |l: u64| {
        l.checked_next_multiple_of(PAGE_SIZE)
            .filter(|&l| l > 0 && l < 1 << 40)
    };
    let (Some(old_len), Some(new_len)) = (round(old_len), round(new_len)) else {
        return -EINVAL;
    };
    // MREMAP_FIXED and MREMAP_DONTUNMAP are not offered.
    if !old.is_multiple_of(PAGE_SIZE)
        || flags & !MREMAP_MAYMOVE != 0
        || old.checked_add(old_len).is_none_or(|e| e > USER_TOP)
        || old < MMAP_BASE
    {
        return -EINVAL;
    }
    if new_len <= old_len {
        munmap(old + new_len, old_len - new_len);
        return old as i64;
    }
    let end = old + old_len;
    // The newest mapping grows in place.
    if MMAP_NEXT
        .compare_exchange(end, old + new_len, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        return match map_zeroed(end, new_len - old_len) {
            Ok(()) => old as i64,
            Err(e) => e,
        };
    }
    if flags & MREMAP_MAYMOVE == 0 {
        return -ENOMEM;
    }
    let at = MMAP_NEXT.fetch_add(new_len, Ordering::Relaxed);
    if at.checked_add(new_len).is_none_or(|e| e > USER_TOP) {
        return -ENOMEM;
    }
    let me = sys::env_id();
    let mut ops = alloc::vec::Vec::with_capacity(BATCH);
    let flush = |ops: &mut alloc::vec::Vec<exo_abi::vm::VmOp>| -> Result<(), i64> {
        let r = vm::apply(ops).map_err(|_| -ENOMEM);
        ops.clear();
        r
    };
    let mut off = 0;
    while off < old_len {
        let (from, to) = (old + off, at + off);
        let entry = crate::info::pte(from);
        let ours =
            vm::ppn_of(from).filter(|&ppn| crate::info::page(ppn).is_some_and(|p| p.owner == me));
        match ours {
            Some(ppn) if entry & pte::WRITABLE != 0 => {
                let exec = entry & pte::NO_EXECUTE == 0;
                ops.push(vm::map_op(to, ppn, true, exec, 0));
                ops.push(vm::unmap_op(from));
                if ops.len() >= BATCH {
                    if let Err(e) = flush(&mut ops) {
                        return e;
                    }
                }
            }
            _ => {
                if let Err(e) = flush(&mut ops).and_then(|()| map_zeroed(to, PAGE_SIZE)) {
                    return e;
                }
                if entry & pte::PRESENT != 0 {
                    // SAFETY: `from` is mapped readable and `to` was just
                    // mapped writable; both are whole pages of this space
                    // that no Rust reference points into.
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            from as *const u8,
                            to as *mut u8,
                            PAGE_SIZE as usize,
                        )
                    };
                    free_page(from);
                }
            }
        }
        off += PAGE_SIZE;
    }
    if let Err(e) = flush(&mut ops).and_then(|()| map_zeroed(at + old_len, new_len - old_len)) {
        return e;
    }
    at as i64
}

/// The heap after the program's data: its pages are zero-filled when
/// first touched (`zero_fill`); those a shrinking heap gives up are freed.
pub fn brk(want: u64) -> i64 {
    let now = BRK_NOW.load(Ordering::Relaxed);
    if want <= BRK_START.load(Ordering::Relaxed) || want > super::load::LOAD_LIMIT {
        return now as i64;
    }
    let (keep, had) = (
        want.next_multiple_of(PAGE_SIZE),
        now.next_multiple_of(PAGE_SIZE),
    );
    if keep < had {
        release(keep, had);
    }
    BRK_NOW.store(want, Ordering::Relaxed);
    want as i64
}
