//! Upcalls (thesis §3.3.3): the kernel pushes the interrupted state as a
//! [`UTrapFrame`] on the environment's exception stack and enters its
//! handler, which resumes without the kernel. Faults, slice ends, PCTs and
//! revocations all come this way.

use super::Kernel;
use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap_frame::TrapFrame;
use crate::mem::user;
use crate::syscalls::{done, Cx, SysResult};
use crate::{kprintln, traps};
use exo_abi::env::Entries;
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::{args, Error};
use exo_abi::trap::{UTrapFrame, UPCALL_SYSCALL};

/// The environment has no usable exception stack or entry for the upcall.
#[derive(Debug, PartialEq, Eq)]
pub struct NoStack;

/// Registers from a user-supplied frame; segments stay the user's, and only
/// arithmetic flags and DF are taken (no IOPL, no trap flag, interrupts on).
pub fn context_from(u: &UTrapFrame, c: &TrapFrame) -> TrapFrame {
    const USER_FLAGS: u64 = 0x0cd5;
    TrapFrame {
        r15: u.r15,
        r14: u.r14,
        r13: u.r13,
        r12: u.r12,
        r11: u.r11,
        r10: u.r10,
        r9: u.r9,
        r8: u.r8,
        rbp: u.rbp,
        rdi: u.rdi,
        rsi: u.rsi,
        rdx: u.rdx,
        rcx: u.rcx,
        rbx: u.rbx,
        rax: u.rax,
        rip: u.rip,
        rsp: u.rsp,
        rflags: (u.rflags & USER_FLAGS) | 0x202,
        ..*c
    }
}

/// The frame an upcall pushes for the state in `f`.
fn frame_of(f: &TrapFrame, vector: u64, err: u64, arg: u64) -> UTrapFrame {
    UTrapFrame {
        vector,
        error_code: err,
        cr2: arg,
        r15: f.r15,
        r14: f.r14,
        r13: f.r13,
        r12: f.r12,
        r11: f.r11,
        r10: f.r10,
        r9: f.r9,
        r8: f.r8,
        rbp: f.rbp,
        rdi: f.rdi,
        rsi: f.rsi,
        rdx: f.rdx,
        rcx: f.rcx,
        rbx: f.rbx,
        rax: f.rax,
        rip: f.rip,
        rflags: f.rflags,
        rsp: f.rsp,
    }
}

impl Kernel {
    /// Pushes an upcall frame (the state in `f`) on environment `slot`'s
    /// exception stack and points `f` at `entry`.
    pub fn push_upcall(
        &mut self,
        slot: usize,
        f: &mut TrapFrame,
        vector: u64,
        err: u64,
        arg: u64,
        entry: u64,
    ) -> Result<(), NoStack> {
        let e = self.info(slot).entries;
        let (top, size) = (e.xstack_top, e.xstack_size);
        if entry == 0 || entry >= USER_TOP || top == 0 || top > USER_TOP || size == 0 || size > top
        {
            return Err(NoStack);
        }
        // Nested upcall: stay below the interrupted frame, leaving room for
        // its red zone and the return address the libOS's resume code
        // writes under it.
        let sp = if f.rsp <= top && f.rsp > top - size {
            f.rsp - exo_abi::trap::RED_ZONE - 16
        } else {
            top
        };
        let frame = (sp - core::mem::size_of::<UTrapFrame>() as u64) & !15;
        if frame < top - size {
            return Err(NoStack);
        }
        let u = frame_of(f, vector, err, arg);
        let pml4 = self.envs[slot].space.as_ref().ok_or(NoStack)?.pml4;
        user::copy_out_in(pml4, frame, user::bytes_of(&u)).map_err(|_| NoStack)?;
        f.rip = entry;
        f.rsp = frame;
        f.rdi = frame;
        f.rflags = 0x202;
        f.cs = USER_CS as u64;
        f.ss = USER_DS as u64;
        Ok(())
    }

    /// A `syscall` in the current environment's reflected range goes to its
    /// exception entry as an upcall instead (one it cannot take ends it, as
    /// a fault would). True if it did.
    pub fn reflect_syscall(&mut self, f: &mut TrapFrame) -> bool {
        let slot = self.current;
        let e = self.info(slot).entries;
        let at = f.rip.wrapping_sub(2); // `syscall` is two bytes
        if !(e.syscall_lo..e.syscall_hi).contains(&at) {
            return false;
        }
        crate::trace::emit(
            exo_abi::trace::class::SYSCALL,
            exo_abi::trace::event::SYSCALL_REFLECTED,
            slot,
            f.rax,
            at,
        );
        if self
            .push_upcall(slot, f, UPCALL_SYSCALL, 0, 0, e.exception)
            .is_err()
        {
            kprintln!(
                "exo: environment {:#x} reflects system calls but cannot take the upcall",
                self.info(slot).id
            );
            self.destroy(slot, exo_abi::boot::exit::FAULT_BASE);
            self.schedule(f);
        }
        true
    }

    /// A fault in user code: upcall the environment's handler, or end it.
    pub fn fault(&mut self, f: &mut TrapFrame, cr2: u64) {
        let slot = self.current;
        crate::trace::emit(
            exo_abi::trace::class::FAULT,
            exo_abi::trace::event::FAULT,
            slot,
            f.vector,
            f.rip,
        );
        let entry = self.info(slot).entries.exception;
        if entry != 0
            && self
                .push_upcall(slot, f, f.vector, f.error_code, cr2, entry)
                .is_ok()
        {
            return;
        }
        traps::report(f, "user");
        let status = exo_abi::boot::exit::FAULT_BASE + f.vector as u8;
        self.destroy(slot, status);
        self.schedule(f);
    }
}

/// `env_set_entries`: the handlers and exception stack upcalls use.
pub fn sys_set_entries(cx: &mut Cx<'_>, a: args::EnvSetEntries) -> SysResult {
    let target = cx.k.control(a.env, a.cap)?;
    let e: Entries = user::read(a.entries.ptr).map_err(|_| Error::Fault)?;
    let addrs = [
        e.exception,
        e.slice_start,
        e.slice_end,
        e.pct_sync,
        e.pct_async,
        e.revoke,
        e.xstack_top,
    ];
    if addrs.iter().any(|&a| a >= USER_TOP)
        || e.xstack_size > e.xstack_top
        || e.syscall_lo > e.syscall_hi
        || e.syscall_hi > USER_TOP
    {
        return Err(Error::Invalid);
    }
    cx.k.info_mut(target).entries = e;
    done()
}
