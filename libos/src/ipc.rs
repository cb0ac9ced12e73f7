//! Protected control transfer: synchronous calls with a reply, and
//! asynchronous messages, all carried in registers.

use crate::sys::Error;
use crate::upcall::Message;
use exo_abi::syscall::{PctKind, Sysnum};

/// Issues a PCT and returns the message registers after it.
fn pct_raw(target: u32, kind: PctKind, m: &Message) -> Result<Message, Error> {
    let mut out = *m;
    let r: i64;
    // SAFETY: a register-only call; the kernel preserves every register but
    // rax, rcx, r11 and the message registers, which it may replace.
    unsafe {
        core::arch::asm!(
            "xchg rbx, {b}",
            "syscall",
            "xchg rbx, {b}",
            b = inout(reg) out[4],
            inlateout("rax") Sysnum::Pct as i64 => r,
            in("rdi") target as u64, in("rsi") kind as u64,
            inout("rdx") out[0], inout("r10") out[1], inout("r8") out[2], inout("r9") out[3],
            inout("r12") out[5], inout("r13") out[6], inout("r14") out[7], inout("r15") out[8],
            lateout("rcx") _, lateout("r11") _,
        );
    }
    if r < 0 {
        return Err(Error::from_result(r).unwrap_or(Error::Invalid));
    }
    Ok(out)
}

/// Calls `target` synchronously: it runs at once on this slice, and its
/// reply comes back as the result.
pub fn call(target: u32, m: &Message) -> Result<Message, Error> {
    pct_raw(target, PctKind::Sync, m)
}

/// Sends an asynchronous message; `target` takes it at its next slice.
pub fn send(target: u32, m: &Message) -> Result<(), Error> {
    pct_raw(target, PctKind::Async, m).map(drop)
}

/// Answers a synchronous call from `caller`.
pub fn reply(caller: u32, m: &Message) -> Result<(), Error> {
    pct_raw(caller, PctKind::Reply, m).map(drop)
}
