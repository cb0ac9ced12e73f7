//! System-call dispatch: one line per call of the table in
//! `exo_abi::syscall`. The arguments are decoded (and checked as their types
//! require) before the handler runs; each handler lives with its resource
//! and has the one signature [`Handler`].

use crate::arch::trap_frame::TrapFrame;
use crate::env::{self, Kernel, KERNEL};
use crate::{console, dpf, drivers, mem, xn};
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::arg::Regs;
use exo_abi::syscall::{Error, SysCall, Sysnum};

/// The calling environment's world during one call.
pub struct Cx<'a> {
    pub k: &'a mut Kernel,
    /// The caller's registers; becomes the next environment's on a switch.
    pub f: &'a mut TrapFrame,
}

/// What a system call did besides computing its result.
pub enum Outcome {
    /// Return the value to the caller.
    Value(u64),
    /// The running environment changed; `f` already holds the next one's
    /// state (with the caller's result saved in its context).
    Switched,
}

pub type SysResult = Result<Outcome, Error>;
pub type Handler<A> = fn(&mut Cx<'_>, A) -> SysResult;

pub fn val(v: u64) -> SysResult {
    Ok(Outcome::Value(v))
}

pub fn done() -> SysResult {
    val(0)
}

/// The value `rax` carries for an error.
pub fn err_code(e: Error) -> u64 {
    (-(e as i64)) as u64
}

fn dispatch(cx: &mut Cx<'_>, nr: Sysnum) -> SysResult {
    use Sysnum as S;
    match nr {
        S::ConsoleWrite => run(cx, nr, console::sys_write),
        S::Exit => run(cx, nr, env::sched::sys_exit),
        S::Ticks => run(cx, nr, env::sched::sys_ticks),
        S::ConsoleRead => run(cx, nr, console::sys_read),
        S::GetEnvId => run(cx, nr, env::table::sys_env_id),
        S::PAlloc => run(cx, nr, mem::calls::sys_p_alloc),
        S::PFree => run(cx, nr, mem::calls::sys_p_free),
        S::PGrant => run(cx, nr, mem::calls::sys_p_grant),
        S::VmBatch => run(cx, nr, mem::calls::sys_vm_batch),
        S::CapDerive => run(cx, nr, env::caps::sys_derive),
        S::CapGrant => run(cx, nr, env::caps::sys_grant),
        S::EnvCreate => run(cx, nr, env::table::sys_create),
        S::EnvSetEntries => run(cx, nr, env::upcall::sys_set_entries),
        S::EnvSetContext => run(cx, nr, env::table::sys_set_context),
        S::EnvRun => run(cx, nr, env::table::sys_run),
        S::EnvDestroy => run(cx, nr, env::table::sys_destroy),
        S::SliceAlloc => run(cx, nr, env::sched::sys_slice_alloc),
        S::SliceFree => run(cx, nr, env::sched::sys_slice_free),
        S::Yield => run(cx, nr, env::sched::sys_yield),
        S::Donate => run(cx, nr, env::sched::sys_donate),
        S::Pct => run(cx, nr, env::pct::sys_pct),
        S::Wakeup => run(cx, nr, env::sched::sys_wakeup),
        S::Revoke => run(cx, nr, env::revoke::sys_revoke),
        S::CapDrop => run(cx, nr, env::caps::sys_drop),
        S::BlkInfo => run(cx, nr, drivers::blk_calls::sys_info),
        S::BlkRead => run(cx, nr, drivers::blk_calls::sys_read),
        S::BlkWrite => run(cx, nr, drivers::blk_calls::sys_write),
        S::BlkFlush => run(cx, nr, drivers::blk_calls::sys_flush),
        S::NetInfo => run(cx, nr, drivers::net_calls::sys_info),
        S::NetSend => run(cx, nr, drivers::net_calls::sys_send),
        S::NetRecv => run(cx, nr, drivers::net_calls::sys_recv),
        S::Xn => run(cx, nr, xn::calls::sys_xn),
        S::DpfInsert => run(cx, nr, dpf::calls::sys_insert),
        S::DpfRemove => run(cx, nr, dpf::calls::sys_remove),
        S::DpfPermit => run(cx, nr, dpf::calls::sys_permit),
        S::NetRing => run(cx, nr, dpf::calls::sys_ring),
        S::NetPoll => run(cx, nr, dpf::calls::sys_poll),
        S::DpfTxFilter => run(cx, nr, dpf::calls::sys_tx_filter),
        S::DpfClassify => run(cx, nr, dpf::calls::sys_classify),
        S::NetSendGather => run(cx, nr, drivers::net_calls::sys_send_gather),
        S::QuotaSet => run(cx, nr, env::quota::sys_quota_set),
        S::PShare => run(cx, nr, mem::calls::sys_p_share),
        S::SetBases => run(cx, nr, env::table::sys_set_bases),
        S::TraceNote => run(cx, nr, crate::trace::sys_trace_note),
    }
}

/// Decodes the arguments of call `nr` and runs its handler.
fn run<A: SysCall>(cx: &mut Cx<'_>, nr: Sysnum, handler: Handler<A>) -> SysResult {
    // A handler filed under the wrong number would read the wrong arguments.
    if A::NR != nr {
        return Err(Error::NoSys);
    }
    let f = &cx.f;
    let regs: Regs = [f.rdi, f.rsi, f.rdx, f.r10, f.r8];
    handler(cx, A::decode(&regs)?)
}

/// Entered from the `syscall` stub with the caller's registers; returns
/// whether to leave by `sysret` (else `iretq`).
#[no_mangle]
extern "C" fn syscall_dispatch(f: &mut TrapFrame) -> bool {
    let mut k = KERNEL.lock();
    let (called, slot) = (f.rax, k.current);
    if k.reflect_syscall(f) {
        return false;
    }
    let r = match Sysnum::from_u64(called) {
        Some(nr) => dispatch(&mut Cx { k: &mut k, f }, nr),
        None => Err(Error::NoSys),
    };
    let shown = match &r {
        Ok(Outcome::Value(v)) => *v,
        Ok(Outcome::Switched) => 0,
        Err(e) => err_code(*e),
    };
    crate::trace::emit(
        exo_abi::trace::class::SYSCALL,
        exo_abi::trace::event::SYSCALL,
        slot,
        called,
        shown,
    );
    match r {
        Ok(Outcome::Value(v)) => f.rax = v,
        Err(e) => f.rax = err_code(e),
        Ok(Outcome::Switched) => return false,
    }
    // `sysret` only to a canonical user address (a non-canonical RCX would
    // fault in ring 0 on some CPUs); anything else returns through `iretq`.
    f.rip < USER_TOP
}
