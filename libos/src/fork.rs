//! fork with copy-on-write (ExOS style, all at user level): the child gets
//! the parent's writable pages mapped read-only with a software COW bit in
//! the PTE, both sides fault on the first write, and the libOS's page-fault
//! handler copies the page. Code is shared read-only; the exception stack
//! is copied at once (upcalls must be able to write it); the process table
//! and pipes stay shared. A forked child forks in turn the same way (see
//! `share_memory` for the pages it does not own).

use crate::child::Builder;
use crate::info;
use crate::layout::*;
use crate::process::{self, PInfo};
use crate::sys::{self, Error};
use crate::upcall::{self, Resume};
use crate::{fd, scratch, vm};
use core::sync::atomic::{AtomicBool, Ordering};
use exo_abi::layout::pte;
use exo_abi::pages::PUBLIC;
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::{VmOp, MAP_EXEC, MAP_WRITE, OP_MAP, OP_PROTECT};
use vm::{map_op, PAGE_SIZE};

/// The software PTE bit marking a copy-on-write page.
pub const PTE_COW: u64 = 1 << 9;

/// Ranges of private memory every child inherits: the program image (where
/// it was linked: see `image_range`), the heap and the main stack.
fn regions() -> [(u64, u64); 3] {
    [image_range(), (HEAP_BASE, HEAP_BASE + HEAP_MAX), MAIN_STACK]
}

/// The running program's image, from its ELF header to its end as the
/// linker placed them (4 MiB for our programs; elsewhere for one linked
/// at another base, such as the Linux runner).
fn image_range() -> (u64, u64) {
    extern "C" {
        static __ehdr_start: u8;
        static _end: u8;
    }
    // Only the symbols' addresses are taken (the linker defines both).
    let (lo, hi) = (
        core::ptr::addr_of!(__ehdr_start) as u64,
        core::ptr::addr_of!(_end) as u64,
    );
    (lo & !(PAGE_SIZE - 1), hi.next_multiple_of(PAGE_SIZE))
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
    if info::page(ppn).is_some_and(|p| p.refs == 1 && p.owner == sys::env_id())
        && vm::apply(&[rw_op(va, exec, SLOT_SELF)]).is_ok()
    {
        return true;
    }
    let Ok(new) = vm::alloc_page(SLOT_SELF) else {
        return false;
    };
    // Its own window: the fault may have interrupted a fill of the main one.
    let remap = map_op(va, new, true, exec, SLOT_SELF);
    scratch::UPCALL
        .copy(va, new, SLOT_SELF, Some(remap))
        .is_ok()
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
pub fn fork() -> Result<u32, Error> {
    fork_with(&[])
}

/// `fork`, the child also inheriting the private memory in `extra` (ranges
/// that must not overlap the image, heap or main stack): memory a foreign
/// program laid out, such as a Linux program's. Its pages that are the
/// initrd's own (public) are not mapped in the child: that program's pager
/// maps them again when the child touches them, which after a fork is
/// seldom (most children exec at once).
#[inline(never)]
pub fn fork_with(extra: &[(u64, u64)]) -> Result<u32, Error> {
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
    let slot = crate::child::free_slot()?;
    let mut b = Builder::create(slot, &[b'f' + slot as u8, (me & 0xff) as u8])?;
    share_memory(&mut b, extra)?;
    b.inherit_entries()?;
    let info = PInfo {
        pid: b.id(),
        ppid: process::pid(),
        fds: fd::snapshot()?,
        ..*process::pinfo()
    };
    process::start_child(b, &info, process::name().as_str(), &ctx)
}

/// Gives the child our private memory: our writable pages copy-on-write,
/// read-only pages shared, the pages the fault handler writes copied now.
/// Pages we use but do not own (we are a forked child ourselves) cannot be
/// handed on by our capability: a writable one is copied for the child
/// (one of the initrd's public pages it maps copy-on-write too), a
/// read-only one (program text and constants, public as the initrd is) is
/// readable through the libOS's shared capability, which its owner named
/// as the page's reader when it first shared it.
fn share_memory(b: &mut Builder, extra: &[(u64, u64)]) -> Result<(), Error> {
    let (xlo, xhi) = upcall::xstack_range();
    let me = sys::env_id();
    let shared = info::env(me).ok_or(Error::NoEnv)?.caps[SLOT_SHARED];
    // The lowest exception-stack address in use: ours if fork runs in an
    // upcall (a Linux program's fork does), else none of it.
    let sp: u64;
    // SAFETY: only reads the stack pointer.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp) };
    let (own_lo, own_hi) = upcall::xstack_bytes();
    let in_use = if (xlo..xhi).contains(&sp) {
        sp & !(PAGE_SIZE - 1)
    } else {
        own_hi
    };
    // Pages wholly of the exception stack and below what is in use.
    let unused = |va: u64| va >= own_lo && va + PAGE_SIZE <= in_use.min(own_hi);
    let own = regions().map(|(lo, hi)| (lo, hi, false));
    let paged = extra.iter().map(|&(lo, hi)| (lo, hi, true));
    for (lo, hi, paged) in own.into_iter().chain(paged) {
        for (va, e) in info::mapped(lo, hi) {
            let ppn = (e & pte::ADDR_MASK) / PAGE_SIZE;
            let exec = e & pte::NO_EXECUTE == 0;
            let page = info::page(ppn);
            let ours = page.is_some_and(|p| p.owner == me);
            let public = page.is_some_and(|p| p.owner == PUBLIC);
            if paged && public {
                continue;
            } else if unused(va) {
                // Exception stack below what a running upcall uses: the
                // child's next upcall starts from the top, so a fresh page.
                b.map_zeroed(va)?;
            } else if (xlo..xhi).contains(&va) || va == vm::cursor_page() {
                // The exception stack, and the page with the allocator's
                // cursor that the COW handler itself writes: never COW (a
                // write fault inside the handler is fatal).
                b.map_copy(va, false)?;
            } else if e & (pte::WRITABLE | PTE_COW) != 0 {
                if ours {
                    let (ours, theirs) = cow_ops(va, ppn, exec, SLOT_SELF);
                    b.map_with(theirs, ours)?;
                } else if public {
                    // A program's data page still the initrd's: the child
                    // copies it on its first write, as we do.
                    b.map_only(cow_ops(va, ppn, exec, SLOT_SELF).1)?;
                } else {
                    b.map_copy(va, exec)?;
                }
            } else if ours {
                if page.is_some_and(|p| p.reader != shared) {
                    sys::p_share(ppn, SLOT_SELF, SLOT_SHARED)?;
                }
                b.map(va, ppn, false, exec, SLOT_SELF)?;
            } else {
                b.map(va, ppn, false, exec, SLOT_SHARED)?;
            }
        }
    }
    Ok(())
}
