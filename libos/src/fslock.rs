//! One lock over the library file system, shared by every process of this
//! libOS: cffs reads and changes blocks in XN's buffer cache one system call
//! at a time, so two processes creating files in one directory at once
//! could both take the same free entry. The lock is a word in a page the
//! first process makes (guarded by the shared capability) and every child
//! maps at `FS_LOCK_VA`; a waiter sleeps on a wakeup predicate over it.
//! A holder that has ended, or held it past `LEASE_MS` (one call of the
//! file system is bounded), loses it: no process can keep the others from
//! the file system for long. The lease is kept in the time-stamp counter's
//! milliseconds, read without a call (the lock is taken for every file
//! operation; asking the kernel for its tick count cost a call each time).

use crate::layout::{FS_LOCK_VA, SLOT_SHARED};
use crate::sys::{self, Error};
use crate::{info, vm};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::wakeup::{WkTerm, CMP_EQ, CMP_GE};

/// The lock word: the holder's environment id and the millisecond (of the
/// time-stamp counter) it took it.
#[repr(C)]
struct Lock {
    holder: AtomicU64,
}

const LEASE_MS: u64 = 2000;

/// Milliseconds of the time-stamp counter (the kernel calibrated it; one
/// CPU, so one counter for every process), as the lock word keeps them.
fn now_ms() -> u64 {
    let per_ms = info::sysinfo().tsc_per_ms.max(1);
    (crate::time::tsc() / per_ms) & 0xffff_ffff
}

/// Makes the lock page (the first process, before any child).
pub(crate) fn create() -> Result<(), Error> {
    let ppn = vm::alloc_page(SLOT_SHARED)?;
    vm::apply(&[vm::map_op(FS_LOCK_VA, ppn, true, false, SLOT_SHARED)]).map_err(|e| e.1)
}

/// The lock page's page number, for a child to map.
pub(crate) fn page() -> Option<u64> {
    vm::ppn_of(FS_LOCK_VA)
}

fn lock() -> Option<&'static Lock> {
    // SAFETY: the page at FS_LOCK_VA, when mapped, is the shared lock page
    // (one atomic word, which other processes change too).
    page().map(|_| unsafe { &*(FS_LOCK_VA as *const Lock) })
}

/// Runs `f` holding the lock (without it if this process has no lock page:
/// an environment outside the libOS's process tree).
pub(crate) fn with<R>(f: impl FnOnce() -> R) -> R {
    let Some(l) = lock() else {
        return f();
    };
    let me = sys::env_id() as u64;
    loop {
        let now = now_ms();
        let cur = l.holder.load(Ordering::Acquire);
        let (holder, since) = (cur & 0xffff_ffff, cur >> 32);
        let free = cur == 0
            || holder == me // an upcall's nested call: ours already
            || info::env(holder as u32).is_none()
            || now.wrapping_sub(since) & 0xffff_ffff >= LEASE_MS;
        if free
            && l.holder
                .compare_exchange(cur, now << 32 | me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let r = f();
            if holder != me || cur == 0 {
                let _ = l.holder.compare_exchange(
                    now << 32 | me,
                    0,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            return r;
        }
        if !free {
            // Until the lock is let go, or its lease is over (in ticks).
            let left_ms = LEASE_MS.saturating_sub(now.wrapping_sub(since) & 0xffff_ffff);
            let hz = info::sysinfo().hz.max(1);
            let _ = sys::wakeup(&[
                WkTerm::mem(FS_LOCK_VA, 8, CMP_EQ, 0),
                WkTerm::OR,
                WkTerm::ticks(CMP_GE, sys::ticks() + (left_ms * hz).div_ceil(1000) + 1),
            ]);
        }
    }
}

/// Shares the lock page with child `b` (granted the shared capability).
pub(crate) fn give(b: &mut crate::child::Builder) -> Result<(), Error> {
    match page() {
        Some(ppn) => b.map(FS_LOCK_VA, ppn, true, false, SLOT_SHARED),
        None => Ok(()),
    }
}
