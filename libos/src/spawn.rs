//! Starting a child environment that runs a function of this same program:
//! its code pages are shared read-only, its writable pages (data, bss,
//! stacks, exception stack) copied. The child is guarded by a capability
//! derived from ours, which it also receives in its slot 0, so it manages
//! itself while we keep control over it.

use crate::child::{Builder, Slice};
use crate::info;
use crate::layout::{IMAGE, MAIN_STACK, SLOT_SELF};
use crate::sys::{self, Error};
use crate::vm::PAGE_SIZE;
use exo_abi::layout::{pte, USER_STACK_TOP};
use exo_abi::trap::UTrapFrame;

/// A child environment: its id and the slot of our capability over it.
#[derive(Clone, Copy, Debug)]
pub struct Child {
    pub id: u32,
    pub slot: usize,
}

extern "C" fn child_start(entry: extern "C" fn() -> u8) -> ! {
    sys::exit(entry())
}

/// Copies or shares every page of `[lo, hi)` into the child.
fn populate(b: &mut Builder, (lo, hi): (u64, u64)) -> Result<(), Error> {
    for (va, e) in info::mapped(lo, hi) {
        let exec = e & pte::NO_EXECUTE == 0;
        if e & pte::WRITABLE != 0 {
            b.map_copy(va, exec)?;
        } else {
            b.map(va, (e & pte::ADDR_MASK) / PAGE_SIZE, false, exec, SLOT_SELF)?;
        }
    }
    Ok(())
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
    let mut b = Builder::create(slot, name)?;
    populate(&mut b, IMAGE)?;
    populate(&mut b, MAIN_STACK)?;
    b.inherit_entries()?;
    let ctx = UTrapFrame {
        rip: child_start as *const () as u64,
        rsp: USER_STACK_TOP - 8,
        rdi: entry as *const () as u64,
        ..UTrapFrame::default()
    };
    let id = b.run(&ctx, slice.map_or(Slice::Without, Slice::At))?;
    Ok(Child { id, slot })
}

/// Sleeps until environment `id` has ended.
pub fn wait(id: u32) {
    let gone = info::env_gone_terms(id);
    while info::env(id).is_some() {
        let _ = sys::wakeup(&gone);
    }
}
