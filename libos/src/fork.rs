//! fork with copy-on-write (ExOS style, all at user level): the child gets
//! the parent's writable pages mapped read-only with a software COW bit in
//! the PTE, both sides fault on the first write, and the libOS's page-fault
//! handler copies the page. Code is shared read-only; the exception stack
//! is copied at once (upcalls must be able to write it); the process table
//! and pipes stay shared. Page-table changes go to the kernel in batches.

use crate::fd;
use crate::info;
use crate::layout::*;
use crate::process::{self, PInfo};
use crate::sys::{self, Error};
use crate::upcall::{self, Resume};
use crate::vm::{self, map_op, unmap_op, PAGE_SIZE};
use core::sync::atomic::{AtomicBool, Ordering};
use exo_abi::cap::PERM_ALL;
use exo_abi::layout::{pte, USER_STACK_TOP};
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::{VmOp, MAP_EXEC, MAP_WRITE, OP_MAP, OP_PROTECT};

/// The software PTE bit marking a copy-on-write page.
pub const PTE_COW: u64 = 1 << 9;

/// Ranges of private memory a child inherits.
fn regions() -> [(u64, u64); 3] {
    [
        (0x40_0000, 0x40_0000 + (64 << 20)),
        (HEAP_BASE, HEAP_BASE + HEAP_MAX),
        (USER_STACK_TOP - (1 << 20), USER_STACK_TOP),
    ]
}

static COW_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Resolves a write fault on a copy-on-write page; false if it is not one.
pub(crate) fn handle_cow(f: &UTrapFrame) -> bool {
    let va = f.cr2 & !(PAGE_SIZE - 1);
    let e = info::pte(va);
    if f.vector != 14 || f.error_code & 2 == 0 || e & pte::PRESENT == 0 || e & PTE_COW == 0 {
        return false;
    }
    let exec = e & pte::NO_EXECUTE == 0;
    let ppn = (e & pte::ADDR_MASK) / PAGE_SIZE;
    // Sole user of a page we own: just make it writable again.
    if info::page(ppn).is_some_and(|p| p.refs == 1)
        && vm::apply(&[rw_op(va, exec, SLOT_SELF)]).is_ok()
    {
        return true;
    }
    let Ok(new) = vm::alloc_page(SLOT_SELF) else {
        return false;
    };
    if vm::apply(&[map_op(SCRATCH, new, true, false, SLOT_SELF)]).is_err() {
        return false;
    }
    // SAFETY: `va` is mapped readable, SCRATCH maps the new page writable.
    unsafe {
        core::ptr::copy_nonoverlapping(va as *const u8, SCRATCH as *mut u8, PAGE_SIZE as usize)
    };
    vm::apply(&[unmap_op(SCRATCH), map_op(va, new, true, exec, SLOT_SELF)]).is_ok()
}

fn rw_op(va: u64, exec: bool, slot: usize) -> VmOp {
    VmOp {
        op: OP_PROTECT,
        cap_slot: slot as u32,
        va,
        ppn: 0,
        flags: MAP_WRITE | if exec { MAP_EXEC } else { 0 },
    }
}

fn cow_ops(va: u64, ppn: u64, exec: bool, slot: usize) -> (VmOp, VmOp) {
    let flags = PTE_COW | if exec { MAP_EXEC } else { 0 };
    (
        VmOp {
            op: OP_PROTECT,
            cap_slot: slot as u32,
            va,
            ppn: 0,
            flags,
        },
        VmOp {
            op: OP_MAP,
            cap_slot: slot as u32,
            va,
            ppn,
            flags,
        },
    )
}

fn exception(f: &mut UTrapFrame) -> Resume {
    if handle_cow(f) {
        Resume::Continue
    } else {
        Resume::Fatal
    }
}

/// Makes sure write faults on COW pages are handled in this process.
fn activate_cow() -> Result<(), Error> {
    if !COW_ACTIVE.swap(true, Ordering::Relaxed) {
        let mut h = upcall::current();
        if h.exception.is_none() {
            h.exception = Some(exception);
        }
        upcall::register(h)?;
    }
    Ok(())
}

/// Duplicates this process. Returns the child's pid in the parent and 0 in
/// the child.
#[inline(never)]
pub fn fork() -> Result<u32, Error> {
    activate_cow()?;
    let mut ctx = UTrapFrame::default();
    let is_child: u64;
    // Capture the callee-saved registers, the stack pointer and a resume
    // address in this very frame: the child starts at label 2 with them, so
    // it returns from fork() through the same frame (which holds nothing the
    // parent changes before the snapshot but its own locals).
    // SAFETY: only stores registers into `ctx`.
    unsafe {
        core::arch::asm!(
            "mov [{c} + 8*3], r15",
            "mov [{c} + 8*4], r14",
            "mov [{c} + 8*5], r13",
            "mov [{c} + 8*6], r12",
            "mov [{c} + 8*11], rbp",
            "mov [{c} + 8*16], rbx",
            "mov [{c} + 8*20], rsp",
            "lea rax, [rip + 2f]",
            "mov [{c} + 8*18], rax",
            "xor eax, eax",
            "jmp 3f",
            "2:",
            "mov eax, 1",
            "3:",
            c = in(reg) &mut ctx as *mut UTrapFrame,
            out("rax") is_child,
            clobber_abi("C"),
        );
    }
    if is_child == 1 {
        return Ok(0);
    }
    let me = sys::env_id();
    let slot = {
        let e = info::env(me).ok_or(Error::NoEnv)?;
        (SLOT_CHILDREN..e.caps.len())
            .find(|&s| !e.caps[s].is_valid())
            .ok_or(Error::NoMem)?
    };
    sys::cap_derive(
        SLOT_SELF,
        slot,
        &[b'f' + slot as u8, (me & 0xff) as u8],
        PERM_ALL,
    )?;
    let child = sys::env_create(slot)?;
    let r = populate(child, slot, &ctx);
    if let Err(e) = r {
        let _ = sys::env_destroy(child, slot);
        let _ = sys::cap_drop(slot);
        return Err(e);
    }
    Ok(child)
}

fn populate(child: u32, slot: usize, ctx: &UTrapFrame) -> Result<(), Error> {
    let (xlo, xhi) = upcall::xstack_range();
    let mut mine = [VmOp::default(); 32];
    let mut theirs = [VmOp::default(); 32];
    let mut n = 0;
    let flush = |mine: &[VmOp], theirs: &[VmOp]| -> Result<(), Error> {
        vm::apply(mine).map_err(|e| e.1)?;
        sys::vm_batch(child, slot, theirs).map_err(|e| e.1)
    };
    for (lo, hi) in regions() {
        let mut va = lo;
        while let Some(at) = info::next_candidate(va, hi) {
            va = at;
            let e = info::pte(va);
            if e & pte::PRESENT == 0 {
                va += PAGE_SIZE;
                continue;
            }
            let ppn = (e & pte::ADDR_MASK) / PAGE_SIZE;
            let exec = e & pte::NO_EXECUTE == 0;
            if (va >= xlo && va < xhi) || va == vm::cursor_page() {
                // The exception stack, and the page with the allocator's
                // cursor that the COW handler itself writes: copied now,
                // never COW (a write fault inside the handler is fatal).
                let copy = vm::alloc_page(slot)?;
                vm::apply(&[map_op(SCRATCH, copy, true, false, slot)]).map_err(|e| e.1)?;
                // SAFETY: both mapped.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        va as *const u8,
                        SCRATCH as *mut u8,
                        PAGE_SIZE as usize,
                    )
                };
                vm::apply(&[unmap_op(SCRATCH)]).map_err(|e| e.1)?;
                sys::vm_batch(child, slot, &[map_op(va, copy, true, false, slot)])
                    .map_err(|e| e.1)?;
            } else if e & (pte::WRITABLE | PTE_COW) != 0 {
                let (p, c) = cow_ops(va, ppn, exec, SLOT_SELF);
                mine[n] = p;
                theirs[n] = c;
                n += 1;
            } else {
                mine[n] = VmOp {
                    op: OP_PROTECT,
                    cap_slot: SLOT_SELF as u32,
                    va,
                    ppn: 0,
                    flags: if exec { MAP_EXEC } else { 0 },
                };
                theirs[n] = map_op(va, ppn, false, exec, SLOT_SELF);
                n += 1;
            }
            if n == mine.len() {
                flush(&mine[..n], &theirs[..n])?;
                n = 0;
            }
            va += PAGE_SIZE;
        }
    }
    flush(&mine[..n], &theirs[..n])?;

    // Its own information page, the shared table, the pipes it inherits.
    let fds = fd::snapshot()?;
    let info = PInfo {
        pid: child,
        ppid: process::pid(),
        fds,
        ..*process::pinfo()
    };
    let info_ppn = vm::alloc_page(slot)?;
    vm::apply(&[map_op(SCRATCH, info_ppn, true, false, slot)]).map_err(|e| e.1)?;
    // SAFETY: SCRATCH maps the new page, writable, until unmapped below.
    info.write_to(unsafe {
        core::slice::from_raw_parts_mut(SCRATCH as *mut u8, PAGE_SIZE as usize)
    });
    vm::apply(&[unmap_op(SCRATCH)]).map_err(|e| e.1)?;
    let mut shared = [VmOp::default(); 20];
    let mut k = 0;
    shared[k] = map_op(PINFO_VA, info_ppn, false, false, slot);
    k += 1;
    let tab = vm::ppn_of(PROCTAB_VA).ok_or(Error::Invalid)?;
    shared[k] = map_op(PROCTAB_VA, tab, true, false, SLOT_SHARED);
    k += 1;
    for f in fds.iter() {
        if let Some(va) = f.pipe_va() {
            if let Some(ppn) = vm::ppn_of(va) {
                if shared[..k].iter().all(|o| o.va != va) {
                    shared[k] = map_op(va, ppn, true, false, SLOT_SHARED);
                    k += 1;
                }
            }
        }
    }
    sys::vm_batch(child, slot, &shared[..k]).map_err(|e| e.1)?;
    fd::share(&fds);
    sys::cap_grant(slot, child, slot, SLOT_SELF, PERM_ALL)?;
    sys::cap_grant(SLOT_SHARED, child, slot, SLOT_SHARED, PERM_ALL)?;
    let me = info::env(sys::env_id()).ok_or(Error::NoEnv)?;
    sys::env_set_entries(child, slot, &me.entries)?;
    sys::env_set_context(child, slot, ctx)?;
    process::register_child(child, process::pid(), process::name().as_str());
    let pos = info::sysinfo()
        .slices
        .iter()
        .position(|&o| o == 0)
        .ok_or(Error::NoMem)?;
    sys::slice_alloc(pos, child, slot)?;
    sys::env_run(child, slot)
}
