//! Building a child environment, the one way spawn, fork and the process
//! loader all do it: create it under a capability derived from ours, give
//! it pages (fresh, copied or shared) in batched page-table calls, then
//! start it with its registers, entries, capabilities and time slice. A
//! child dropped before it runs is destroyed and its capability dropped.
//! A child may take seven eighths of what we may still take of each
//! resource.

use crate::info;
use crate::layout::SLOT_SELF;
use crate::scratch;
use crate::sys::{self, Error};
use crate::vm::{self, map_op, Batch};
use exo_abi::cap::PERM_ALL;
use exo_abi::env::Resource;
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::VmOp;

/// Which time slice a started child gets.
pub enum Slice {
    At(usize),
    /// The first free one (none free: the start fails).
    AnyFree,
    /// None: it runs only when yielded or called to.
    Without,
}

/// A child environment not yet running.
pub struct Builder {
    id: u32,
    slot: usize,
    /// Mappings for the child.
    theirs: Batch,
    /// Changes to our own mappings that go with them (fork's protection).
    ours: Batch,
    started: bool,
}

impl Builder {
    /// Creates a child guarded by our own capability extended by `ext`,
    /// which we keep in `slot`.
    pub fn create(slot: usize, ext: &[u8]) -> Result<Self, Error> {
        sys::cap_derive(SLOT_SELF, slot, ext, PERM_ALL)?;
        let id = sys::env_create(slot).inspect_err(|_| {
            let _ = sys::cap_drop(slot);
        })?;
        // Our policy: a child (with its own children) may take at most
        // seven eighths of what we may still take of each resource, so that
        // no child can starve us, while a chain of forks (a shell's
        // subshells and pipelines) still goes many levels deep.
        let me = info::env(sys::env_id())
            .map(|e| e.quota)
            .unwrap_or_default();
        for r in Resource::ALL {
            let h = me.get(r).headroom();
            if let Err(e) = sys::quota_set(id, slot, r, h - h / 8) {
                let _ = sys::env_destroy(id, slot);
                let _ = sys::cap_drop(slot);
                return Err(e);
            }
        }
        Ok(Builder {
            id,
            slot,
            theirs: Batch::new(id, slot),
            ours: Batch::new(sys::env_id(), SLOT_SELF),
            started: false,
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Our capability slot over the child.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Maps `ppn`, guarded by our capability in `guard`, at `va` in the child.
    pub fn map(
        &mut self,
        va: u64,
        ppn: u64,
        writable: bool,
        exec: bool,
        guard: usize,
    ) -> Result<(), Error> {
        self.push(map_op(va, ppn, writable, exec, guard), None)
    }

    /// Queues `op` for the child.
    pub fn map_only(&mut self, op: VmOp) -> Result<(), Error> {
        self.push(op, None)
    }

    /// Queues `theirs` for the child and `ours` for this environment. Ours
    /// are applied after the child's: a page fork protects is then already
    /// shared, so our next write to it copies it (were we still its only
    /// user, the copy-on-write handler would just make it writable again).
    pub fn map_with(&mut self, theirs: VmOp, ours: VmOp) -> Result<(), Error> {
        self.push(theirs, Some(ours))
    }

    fn push(&mut self, theirs: VmOp, ours: Option<VmOp>) -> Result<(), Error> {
        // Ours fill no faster than theirs, so flushing when theirs are full
        // keeps every one of ours behind its pair.
        if self.theirs.is_full() {
            self.flush()?;
        }
        self.theirs.push(theirs);
        if let Some(op) = ours {
            self.ours.push(op);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.theirs.flush()?;
        self.ours.flush()
    }

    /// Maps a new page, filled by `fill`, at `va` in the child.
    pub fn map_new(
        &mut self,
        va: u64,
        writable: bool,
        exec: bool,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), Error> {
        let ppn = vm::alloc_page(self.slot)?;
        scratch::MAIN.fill(ppn, self.slot, fill, None)?;
        self.map(va, ppn, writable, exec, self.slot)
    }

    /// Maps a fresh page (the kernel hands them out zeroed), writable, at
    /// `va` in the child.
    pub fn map_zeroed(&mut self, va: u64) -> Result<(), Error> {
        let ppn = vm::alloc_page(self.slot)?;
        self.map(va, ppn, true, false, self.slot)
    }

    /// Maps a writable copy of our page at `va` at the same place in the child.
    pub fn map_copy(&mut self, va: u64, exec: bool) -> Result<(), Error> {
        let ppn = vm::alloc_page(self.slot)?;
        scratch::MAIN.copy(va, ppn, self.slot, None)?;
        self.map(va, ppn, true, exec, self.slot)
    }

    /// Gives the child our capability in `ours` in its slot `theirs`.
    pub fn grant(&mut self, ours: usize, theirs: usize) -> Result<(), Error> {
        sys::cap_grant(ours, self.id, self.slot, theirs, PERM_ALL)
    }

    /// Gives the child our upcall entries (it runs this same program).
    pub fn inherit_entries(&mut self) -> Result<(), Error> {
        let me = info::env(sys::env_id()).ok_or(Error::NoEnv)?;
        sys::env_set_entries(self.id, self.slot, &me.entries)
    }

    /// Runs the child from `ctx` with a time slice as `slice` says. It gets
    /// our capability over it in its slot 0, so it manages itself.
    pub fn run(mut self, ctx: &UTrapFrame, slice: Slice) -> Result<u32, Error> {
        self.flush()?;
        self.grant(self.slot, SLOT_SELF)?;
        sys::env_set_context(self.id, self.slot, ctx)?;
        let pos = match slice {
            Slice::At(pos) => Some(pos),
            Slice::AnyFree => Some(free_slice().ok_or(Error::NoMem)?),
            Slice::Without => None,
        };
        if let Some(pos) = pos {
            sys::slice_alloc(pos, self.id, self.slot)?;
        }
        sys::env_run(self.id, self.slot)?;
        self.started = true;
        Ok(self.id)
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        if !self.started {
            let _ = sys::env_destroy(self.id, self.slot);
            let _ = sys::cap_drop(self.slot);
        }
    }
}

/// A free capability slot for a new child.
pub fn free_slot() -> Result<usize, Error> {
    let me = info::env(sys::env_id()).ok_or(Error::NoEnv)?;
    (crate::layout::SLOT_CHILDREN..me.caps.len())
        .find(|&s| !me.caps[s].is_valid())
        .ok_or(Error::NoMem)
}

/// The first free time slice position.
fn free_slice() -> Option<usize> {
    info::sysinfo().slices.iter().position(|&o| o == 0)
}
