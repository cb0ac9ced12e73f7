//! Starting a child environment that runs a function of this same program:
//! its code pages are shared read-only, its writable pages (data, bss,
//! stacks, exception stack) copied, with batched page-table calls. The child
//! is guarded by a capability derived from ours, which it also receives in
//! its slot 0, so it manages itself while we keep control over it.

use crate::info;
use crate::sys::{self, Error};
use crate::vm::{self, map_op, unmap_op, PAGE_SIZE};
use exo_abi::cap::PERM_ALL;
use exo_abi::layout::{pte, USER_STACK_TOP};
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::{VmOp, MAX_BATCH};

/// Range of the program image (linked at 4 MiB) scanned for pages.
const IMAGE: (u64, u64) = (0x40_0000, 0x40_0000 + (64 << 20));
/// Range of the main stack.
const STACK: (u64, u64) = (USER_STACK_TOP - (1 << 20), USER_STACK_TOP);
/// Where copies are staged in this environment.
const SCRATCH: u64 = 0x0000_6000_0000_0000;

/// A child environment: its id and the slot of our capability over it.
#[derive(Clone, Copy, Debug)]
pub struct Child {
    pub id: u32,
    pub slot: usize,
}

extern "C" fn child_start(entry: extern "C" fn() -> u8) -> ! {
    sys::exit(entry())
}

fn flush(env: u32, slot: usize, ops: &mut [VmOp; 64], n: &mut usize) -> Result<(), Error> {
    if *n > 0 {
        sys::vm_batch(env, slot, &ops[..*n]).map_err(|(_, e)| e)?;
        *n = 0;
    }
    Ok(())
}

/// Copies or shares every page of `[lo, hi)` into `child`.
fn populate(child: Child, lo: u64, hi: u64) -> Result<(), Error> {
    let mut child_ops = [VmOp::default(); 64];
    let mut n = 0;
    let mut va = lo;
    while let Some(at) = info::next_candidate(va, hi) {
        va = at;
        let e = info::pte(va);
        if e & pte::PRESENT != 0 {
            let ppn = (e & pte::ADDR_MASK) / PAGE_SIZE;
            let exec = e & pte::NO_EXECUTE == 0;
            if e & pte::WRITABLE != 0 {
                let copy = vm::alloc_page(child.slot)?;
                vm::apply(&[map_op(SCRATCH, copy, true, false, child.slot)]).map_err(|(_, e)| e)?;
                // SAFETY: both pages are mapped: `va` in place, the copy at SCRATCH.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        va as *const u8,
                        SCRATCH as *mut u8,
                        PAGE_SIZE as usize,
                    )
                };
                vm::apply(&[unmap_op(SCRATCH)]).map_err(|(_, e)| e)?;
                child_ops[n] = map_op(va, copy, true, exec, child.slot);
            } else {
                child_ops[n] = map_op(va, ppn, false, exec, 0);
            }
            n += 1;
            if n == child_ops.len().min(MAX_BATCH) {
                flush(child.id, child.slot, &mut child_ops, &mut n)?;
            }
        }
        va += PAGE_SIZE;
    }
    flush(child.id, child.slot, &mut child_ops, &mut n)
}

/// Creates a child running `entry` (its return value is the child's exit
/// status), guarded by our slot-0 capability extended by `name`, which we
/// keep in `slot`. It gets our upcall handlers, and time slice `slice` if
/// given (otherwise it runs only when yielded or called to).
pub fn spawn(
    entry: extern "C" fn() -> u8,
    name: &[u8],
    slot: usize,
    slice: Option<usize>,
) -> Result<Child, Error> {
    sys::cap_derive(0, slot, name, PERM_ALL)?;
    let id = sys::env_create(slot)?;
    let child = Child { id, slot };
    let setup = || -> Result<(), Error> {
        populate(child, IMAGE.0, IMAGE.1)?;
        populate(child, STACK.0, STACK.1)?;
        sys::cap_grant(slot, id, slot, 0, PERM_ALL)?;
        let me = info::env(sys::env_id()).ok_or(Error::NoEnv)?;
        sys::env_set_entries(id, slot, &me.entries)?;
        let ctx = UTrapFrame {
            rip: child_start as *const () as u64,
            rsp: USER_STACK_TOP - 8,
            rdi: entry as *const () as u64,
            ..UTrapFrame::default()
        };
        sys::env_set_context(id, slot, &ctx)?;
        if let Some(pos) = slice {
            sys::slice_alloc(pos, id, slot)?;
        }
        sys::env_run(id, slot)
    };
    if let Err(e) = setup() {
        let _ = sys::env_destroy(id, slot);
        return Err(e);
    }
    Ok(child)
}

/// Sleeps until environment `id` has ended.
pub fn wait(id: u32) {
    let gone = info::env_gone_terms(id);
    while info::env(id).is_some() {
        let _ = sys::wakeup(&gone);
    }
}
