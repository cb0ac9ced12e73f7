//! Scratch windows: a page of this environment's address space where
//! another physical page (a child's, or a copy being made) is mapped while
//! it is filled.
//!
//! A window is in use exactly while something is mapped there, so that
//! mapping is its busy flag. The flag is not in memory because children are
//! made of copies of our memory, taken while a window is in use: a flag in
//! memory would reach them set. Fills on this one thread nest (an upcall's
//! runs to its end before the code it interrupted goes on), so a fill that
//! finds its window unmapped has it to itself until it unmaps it.

use crate::info;
use crate::layout::{SCRATCH, UPCALL_SCRATCH};
use crate::sys::Error;
use crate::vm::{self, map_op, unmap_op, PAGE_SIZE};
use exo_abi::layout::{pte, USER_TOP};
use exo_abi::vm::VmOp;

pub struct Window(u64);

/// For normal code.
pub const MAIN: Window = Window(SCRATCH);
/// For the copy-on-write fault handler, which may interrupt a fill of MAIN.
pub const UPCALL: Window = Window(UPCALL_SCRATCH);

impl Window {
    /// Fills physical page `ppn`, mapped nowhere yet (a page just
    /// allocated, guarded by our capability in `slot`), with `fill`; `then`
    /// goes to the kernel with the unmapping. Busy if the window is in use.
    pub fn fill(
        &self,
        ppn: u64,
        slot: usize,
        fill: impl FnOnce(&mut [u8]),
        then: Option<VmOp>,
    ) -> Result<(), Error> {
        let va = self.0;
        if info::pte(va) & pte::PRESENT != 0 {
            return Err(Error::Busy);
        }
        if info::page(ppn).is_none_or(|p| p.refs != 0) {
            return Err(Error::Invalid);
        }
        vm::apply(&[map_op(va, ppn, true, false, slot)]).map_err(|e| e.1)?;
        // SAFETY: `va` maps `ppn`, writable, until the unmapping below. It
        // is the page's only mapping (there was none, checked above), and
        // no other fill holds the window (it was unmapped, see the module
        // comment), so this is the only reference to the page.
        fill(unsafe { core::slice::from_raw_parts_mut(va as *mut u8, PAGE_SIZE as usize) });
        let ops = [unmap_op(va), then.unwrap_or_default()];
        let n = if then.is_some() { 2 } else { 1 };
        vm::apply(&ops[..n]).map_err(|e| e.1)
    }

    /// Makes physical page `ppn` (as for `fill`) a copy of the page mapped
    /// at `va` here; `then` as for `fill`.
    pub fn copy(&self, va: u64, ppn: u64, slot: usize, then: Option<VmOp>) -> Result<(), Error> {
        let va = va & !(PAGE_SIZE - 1);
        if va >= USER_TOP || vm::ppn_of(va).is_none() || va == MAIN.0 || va == UPCALL.0 {
            return Err(Error::Invalid);
        }
        let copy = |page: &mut [u8]| {
            // SAFETY: `va` is a user page mapped here (checked above), so
            // readable, and not a window, so not `page`. No reference to it
            // is made: an upcall may write it meanwhile (fork copies the
            // exception stack).
            unsafe {
                core::ptr::copy_nonoverlapping(va as *const u8, page.as_mut_ptr(), page.len())
            }
        };
        self.fill(ppn, slot, copy, then)
    }
}
