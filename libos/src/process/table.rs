//! The process table: one page every process of this libOS maps, an entry
//! per environment slot, read by `ps` and by parents waiting for children.
//! Other processes write it while we read it, so every field is atomic.

use crate::layout::PROCTAB_VA;
use crate::vm::{self, PAGE_SIZE};
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
    name: [AtomicU8; NAME_LEN],
}

const _: () = assert!(core::mem::size_of::<[ProcEntry; NENV]>() <= PAGE_SIZE as usize);

/// A name read from the table.
#[derive(Clone, Copy)]
pub struct Name([u8; NAME_LEN]);

impl Name {
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

    /// Marks the entry running as process `pid`, child of `ppid`.
    pub(crate) fn enter(&self, pid: u32, ppid: u32, name: &str) {
        self.pid.store(pid, Ordering::Relaxed);
        self.ppid.store(ppid, Ordering::Relaxed);
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

/// The shared process table, indexed by environment slot.
///
/// # Panics
/// In an environment that is not a process of this libOS (no table mapped).
pub fn table() -> &'static [ProcEntry; NENV] {
    assert!(vm::ppn_of(PROCTAB_VA).is_some(), "no process table");
    // SAFETY: the table's page is mapped at PROCTAB_VA (checked above), one
    // page holds it (asserted at compile time), it stays mapped for good,
    // and all its fields are atomics, so shared references suffice for the
    // writes of every process.
    unsafe { &*(PROCTAB_VA as *const [ProcEntry; NENV]) }
}

/// The entry of process `pid`.
pub fn entry(pid: u32) -> &'static ProcEntry {
    &table()[env_slot(pid)]
}
