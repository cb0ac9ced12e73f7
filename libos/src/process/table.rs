//! The process table, u-area style: each process's entry is a page of its
//! own, at `PROCTAB_VA + slot * PAGE_SIZE` in every process that maps it.
//! The parent fills it, shares it read-only with every process of this
//! libOS (the table capability, `SLOT_TABLE`, is their reader) and gives it
//! to the child; the page is guarded by the child's capability, so only the
//! child (and its ancestors) can write it. The parent keeps it mapped until
//! it reaps the child, so the exit status outlives the child. Others map an
//! entry read-only the first time they read it. Entries change while they
//! are read, so every field is atomic.

use crate::layout::{PROCTAB_VA, SLOT_TABLE};
use crate::vm::{self, map_op, PAGE_SIZE};
use crate::{info, sys};
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use exo_abi::env::{env_slot, NENV};

pub mod state {
    pub const FREE: u32 = 0;
    pub const RUNNING: u32 = 1;
    pub const ZOMBIE: u32 = 2;
}

const NAME_LEN: usize = 48;

/// A process-table entry.
#[repr(C)]
pub struct ProcEntry {
    pub pid: AtomicU32,
    pub ppid: AtomicU32,
    pub state: AtomicU32,
    pub status: AtomicU32,
    /// Its process group (Unix job control; its parent's unless changed).
    pub pgid: AtomicU32,
    /// For a process that took the console as its terminal: the group in
    /// the foreground, the one Ctrl-C interrupts (0: none chosen).
    pub foreground: AtomicU32,
    name: [AtomicU8; NAME_LEN],
}

const _: () = assert!(core::mem::size_of::<ProcEntry>() <= PAGE_SIZE as usize);

/// A name read from the table.
#[derive(Clone, Copy)]
pub struct Name([u8; NAME_LEN]);

impl Name {
    pub const EMPTY: Name = Name([0; NAME_LEN]);

    /// Without the NULs that pad it.
    pub fn as_bytes(&self) -> &[u8] {
        let n = self.0.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        &self.0[..n]
    }

    /// As text ("" if it is not UTF-8).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl ProcEntry {
    pub fn name(&self) -> Name {
        Name(core::array::from_fn(|i| {
            self.name[i].load(Ordering::Relaxed)
        }))
    }

    /// Marks the entry running as process `pid`, child of `ppid`, in
    /// process group `pgid`.
    pub(crate) fn enter(&self, pid: u32, ppid: u32, pgid: u32, name: &str) {
        self.pid.store(pid, Ordering::Relaxed);
        self.ppid.store(ppid, Ordering::Relaxed);
        self.pgid.store(pgid, Ordering::Relaxed);
        self.status.store(0, Ordering::Relaxed);
        let n = name.len().min(NAME_LEN - 1);
        for (i, b) in self.name.iter().enumerate() {
            b.store(
                if i < n { name.as_bytes()[i] } else { 0 },
                Ordering::Relaxed,
            );
        }
        self.state.store(state::RUNNING, Ordering::Release);
    }
}

/// Where the entry of process `pid` is mapped.
pub fn entry_va(pid: u32) -> u64 {
    PROCTAB_VA + (env_slot(pid) % NENV) as u64 * PAGE_SIZE
}

/// The page holding `pid`'s entry: owned by it and shared through the
/// table capability (found in the exposed page records).
fn entry_page(pid: u32) -> Option<u64> {
    let reader = info::env(sys::env_id())?.caps[SLOT_TABLE];
    (0..info::sysinfo().npages).find(|&p| {
        info::page(p).is_some_and(|r| r.owner == pid && r.reader.is_valid() && r.reader == reader)
    })
}

/// The entry of process `pid`, if it is readable: mapped here already
/// (our own, our children's), or mapped read-only now.
pub fn entry(pid: u32) -> Option<&'static ProcEntry> {
    let va = entry_va(pid);
    // SAFETY: a mapped entry page holds one ProcEntry (asserted to fit) of
    // atomics only, so a shared reference reads what others write.
    let here = || unsafe { &*(va as *const ProcEntry) };
    if vm::ppn_of(va).is_some() {
        if here().pid.load(Ordering::Relaxed) == pid {
            return Some(here());
        }
        // Someone's who has ended and whose slot was reused: a child of
        // ours not yet reaped keeps its entry elsewhere; others' go.
        if !park_zombie(va) {
            vm::unmap(va).ok()?;
        }
    }
    let ppn = entry_page(pid)?;
    vm::apply(&[map_op(va, ppn, false, false, SLOT_TABLE)]).ok()?;
    (here().pid.load(Ordering::Relaxed) == pid).then(here)
}

/// If the entry mapped at `va` is one of our children's that ended and
/// that we have not reaped (its environment slot now has a new process),
/// keeps its status for `wait` (as a Unix zombie keeps its pid) and lets
/// the page go; true if it did.
pub(crate) fn park_zombie(va: u64) -> bool {
    if vm::ppn_of(va).is_none() {
        return false;
    }
    // SAFETY: a mapped entry page holds one ProcEntry of atomics.
    let e = unsafe { &*(va as *const ProcEntry) };
    let me = crate::process::pid();
    let (pid, ppid) = (
        e.pid.load(Ordering::Relaxed),
        e.ppid.load(Ordering::Relaxed),
    );
    if ppid != me || pid == me || e.state.load(Ordering::Acquire) == state::FREE {
        return false;
    }
    // One that ended without the libOS's exit was destroyed (the kernel's
    // record of it went with the slot): as SIGKILL.
    let word = if e.state.load(Ordering::Acquire) == state::ZOMBIE {
        e.status.load(Ordering::Relaxed)
    } else {
        crate::process::KILLED_WORD
    };
    crate::process::park(pid, word);
    vm::unmap(va).is_ok()
}

/// Every live process's entry that can be read.
pub fn entries() -> impl Iterator<Item = &'static ProcEntry> {
    (0..NENV)
        .filter_map(|s| info::env_at(s).map(|e| e.id))
        .filter_map(entry)
}
