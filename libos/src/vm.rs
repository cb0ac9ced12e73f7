//! Virtual memory on the kernel's calls: picking free physical pages from the
//! exposed records, and mapping, protecting and unmapping them in batches.

use crate::info;
use crate::sys::{self, Error};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::layout::pte;
use exo_abi::pages::FREE;
use exo_abi::vm::{VmOp, MAP_EXEC, MAP_WRITE, OP_MAP, OP_PROTECT, OP_UNMAP};

pub const PAGE_SIZE: u64 = 4096;

/// What the copy-on-write fault handler writes, together in one page that
/// fork keeps private (a write fault inside the handler would be fatal).
#[repr(C, align(16))]
struct HandlerState {
    /// Where the search for a free page resumes.
    cursor: AtomicU64,
    /// This environment's id, with its page-table root (see `sys::env_id`).
    env: AtomicU64,
}

static STATE: HandlerState = HandlerState {
    cursor: AtomicU64::new(0),
    env: AtomicU64::new(0),
};
static CURSOR: &AtomicU64 = &STATE.cursor;

/// The cached (root frame << 32 | id) word `sys::env_id` keeps.
pub(crate) fn env_cache() -> &'static AtomicU64 {
    &STATE.env
}

/// The page holding the allocation cursor (fork keeps it private: the
/// copy-on-write fault handler allocates pages).
pub(crate) fn cursor_page() -> u64 {
    core::ptr::addr_of!(STATE) as u64 & !(PAGE_SIZE - 1)
}

/// Allocates a free physical page guarded by the capability in `guard_slot`,
/// naming it from the exposed page records (another environment may take
/// the same page first: then the next one is tried).
pub fn alloc_page(guard_slot: usize) -> Result<u64, Error> {
    let n = info::sysinfo().npages;
    let start = CURSOR.load(Ordering::Relaxed);
    for k in 0..n {
        let ppn = (start + k) % n;
        if info::page(ppn).is_some_and(|p| p.owner == FREE) {
            match sys::p_alloc(ppn, guard_slot) {
                Ok(()) => {
                    CURSOR.store(ppn + 1, Ordering::Relaxed);
                    return Ok(ppn);
                }
                Err(Error::Taken) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Err(Error::NoMem)
}

pub fn map_op(va: u64, ppn: u64, writable: bool, executable: bool, cap_slot: usize) -> VmOp {
    let mut flags = 0;
    if writable {
        flags |= MAP_WRITE;
    }
    if executable {
        flags |= MAP_EXEC;
    }
    VmOp {
        op: OP_MAP,
        cap_slot: cap_slot as u32,
        va,
        ppn,
        flags,
    }
}

pub fn unmap_op(va: u64) -> VmOp {
    VmOp {
        op: OP_UNMAP,
        va,
        ..VmOp::default()
    }
}

pub fn protect_op(va: u64, writable: bool, cap_slot: usize) -> VmOp {
    VmOp {
        op: OP_PROTECT,
        cap_slot: cap_slot as u32,
        va,
        flags: if writable { MAP_WRITE } else { 0 },
        ..VmOp::default()
    }
}

/// Operations sent to the kernel in one call.
const BATCH: usize = 64;

/// Page-table operations for one environment, sent in batches.
pub struct Batch {
    env: u32,
    slot: usize,
    ops: [VmOp; BATCH],
    n: usize,
}

impl Batch {
    /// Operations on environment `env` under our capability in `slot`.
    pub fn new(env: u32, slot: usize) -> Self {
        Batch {
            env,
            slot,
            ops: [VmOp::default(); BATCH],
            n: 0,
        }
    }

    /// Operations on this environment.
    pub fn own() -> Self {
        Batch::new(sys::env_id(), 0)
    }

    pub fn is_full(&self) -> bool {
        self.n == BATCH
    }

    /// Queues `op` without sending; the caller flushes a full batch first.
    pub fn push(&mut self, op: VmOp) {
        self.ops[self.n] = op;
        self.n += 1;
    }

    /// Queues `op`, sending the batch first if it is full.
    pub fn add(&mut self, op: VmOp) -> Result<(), Error> {
        if self.is_full() {
            self.flush()?;
        }
        self.push(op);
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Error> {
        if self.n > 0 {
            let n = core::mem::take(&mut self.n);
            sys::vm_batch(self.env, self.slot, &self.ops[..n]).map_err(|e| e.1)?;
        }
        Ok(())
    }
}

/// Applies operations to this environment (slot 0 controls it).
pub fn apply(ops: &[VmOp]) -> Result<(), (usize, Error)> {
    sys::vm_batch(sys::env_id(), 0, ops)
}

/// Maps a fresh zeroed page at `va` in this environment.
pub fn map_fresh(va: u64, writable: bool) -> Result<u64, Error> {
    let ppn = alloc_page(0)?;
    apply(&[map_op(va, ppn, writable, false, 0)]).map_err(|(_, e)| e)?;
    Ok(ppn)
}

/// Maps fresh zeroed pages over `[lo, hi)` (page-aligned) in this
/// environment, in batched calls. On failure the pages mapped so far stay
/// mapped and none is left allocated but unmapped.
pub fn map_fresh_range(lo: u64, hi: u64, writable: bool, exec: bool) -> Result<(), Error> {
    let mut ops = [VmOp::default(); BATCH];
    let mut va = lo;
    while va < hi {
        let mut n = 0;
        let mut failed = None;
        while n < BATCH && va < hi {
            match alloc_page(0) {
                Ok(ppn) => ops[n] = map_op(va, ppn, writable, exec, 0),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            n += 1;
            va += PAGE_SIZE;
        }
        if let Err((at, e)) = apply(&ops[..n]) {
            failed = Some(e);
            for op in &ops[at..n] {
                let _ = sys::p_free(op.ppn, 0);
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

/// Maps a fresh page at `va` holding `code` (at most a page), executable
/// and read-only, e.g. code the program did not come with.
pub fn map_code(va: u64, code: &[u8]) -> Result<(), Error> {
    if code.len() > PAGE_SIZE as usize {
        return Err(Error::Invalid);
    }
    let ppn = alloc_page(0)?;
    crate::scratch::MAIN.fill(ppn, 0, |p| p[..code.len()].copy_from_slice(code), None)?;
    apply(&[map_op(va, ppn, false, true, 0)]).map_err(|(_, e)| e)
}

/// Appel-Li primitives over the exposed page tables and batched calls.
pub fn protect(va: u64, writable: bool) -> Result<(), Error> {
    apply(&[protect_op(va, writable, 0)]).map_err(|(_, e)| e)
}

pub fn unmap(va: u64) -> Result<(), Error> {
    apply(&[unmap_op(va)]).map_err(|(_, e)| e)
}

/// Whether the page at `va` was written since mapped, read from UVPT.
pub fn is_dirty(va: u64) -> bool {
    info::pte(va) & pte::DIRTY != 0
}

/// The physical page mapped at `va`, read from UVPT.
pub fn ppn_of(va: u64) -> Option<u64> {
    let e = info::pte(va);
    (e & pte::PRESENT != 0).then_some((e & pte::ADDR_MASK) / PAGE_SIZE)
}
