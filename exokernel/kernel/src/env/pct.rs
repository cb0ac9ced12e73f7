//! Protected control transfer (thesis §3.3.4): the caller's registers are
//! the message; a synchronous call runs the callee at once on the rest of
//! the caller's slice, entered like any switch and upcalled at its PCT
//! entry; an asynchronous one waits for the callee's next slice.

use super::upcall::context_from;
use crate::arch::trap_frame::TrapFrame;
use crate::mem::user;
use crate::syscalls::{done, err_code, Cx, Outcome, SysResult};
use exo_abi::env::status;
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::{args, Error, PctKind};
use exo_abi::trap::{UTrapFrame, UPCALL_PCT};

/// A PCT message: `rdx, r10, r8, r9, rbx, r12, r13, r14, r15`.
#[derive(Clone, Copy, Default)]
pub struct Message {
    pub from: u32,
    pub regs: [u64; 9],
}

impl Message {
    pub fn from_frame(from: u32, f: &TrapFrame) -> Message {
        Message {
            from,
            regs: [f.rdx, f.r10, f.r8, f.r9, f.rbx, f.r12, f.r13, f.r14, f.r15],
        }
    }

    pub fn store(&self, f: &mut TrapFrame) {
        [f.rdx, f.r10, f.r8, f.r9, f.rbx, f.r12, f.r13, f.r14, f.r15] = self.regs;
    }
}

pub fn sys_pct(cx: &mut Cx<'_>, a: args::Pct) -> SysResult {
    let t = cx.k.slot_of(a.to.0)?;
    if t == cx.k.current {
        return Err(Error::Invalid);
    }
    let me = cx.k.current_id();
    let msg = Message::from_frame(me, cx.f);
    crate::trace::emit(
        exo_abi::trace::class::PCT,
        if a.kind == PctKind::Reply {
            exo_abi::trace::event::PCT_REPLY
        } else {
            exo_abi::trace::event::PCT_CALL
        },
        cx.k.current,
        a.to.0 as u64,
        a.kind as u64,
    );
    match a.kind {
        PctKind::Async => call_async(cx, t, msg),
        PctKind::Sync => call_sync(cx, t, msg),
        PctKind::Reply => reply(cx, t, msg),
    }
}

fn call_async(cx: &mut Cx<'_>, t: usize, msg: Message) -> SysResult {
    if cx.k.info(t).entries.pct_async == 0 {
        return Err(Error::Invalid);
    }
    if cx.k.envs[t].async_msg.is_some() {
        return Err(Error::Busy);
    }
    cx.k.envs[t].async_msg = Some(msg);
    done()
}

fn call_sync(cx: &mut Cx<'_>, t: usize, msg: Message) -> SysResult {
    let entry = cx.k.info(t).entries.pct_sync;
    if entry == 0 {
        return Err(Error::Invalid);
    }
    if cx.k.info(t).status == status::AWAIT_REPLY {
        return Err(Error::Busy);
    }
    let k = &mut *cx.k;
    let f = &mut *cx.f;
    f.rax = 0;
    k.save_current(f);
    let cur = k.current;
    let callee = k.info(t).id;
    k.info_mut(cur).status = status::AWAIT_REPLY;
    k.envs[cur].awaiting = callee;
    // The callee runs its PCT entry on its exception stack, with its
    // interrupted state in the frame and the message in registers.
    k.enter(t, f);
    if k.push_upcall(t, f, UPCALL_PCT, 0, msg.from as u64, entry)
        .is_err()
    {
        // The callee cannot take the call: the caller gets an error.
        k.info_mut(cur).status = status::RUNNABLE;
        k.envs[cur].ctx.rax = err_code(Error::Invalid);
        k.switch_to(cur, f, false);
        return Ok(Outcome::Switched);
    }
    let (env, info) = k.parts_mut(t);
    if info.status != status::NOT_RUNNABLE {
        info.status = status::RUNNABLE;
    }
    env.wk_len = 0;
    env.pct_frame = f.rsp;
    msg.store(f);
    f.rsi = msg.from as u64;
    Ok(Outcome::Switched)
}

fn reply(cx: &mut Cx<'_>, t: usize, msg: Message) -> SysResult {
    let k = &mut *cx.k;
    let f = &mut *cx.f;
    if k.info(t).status != status::AWAIT_REPLY || k.envs[t].awaiting != msg.from {
        return Err(Error::Invalid);
    }
    f.rax = 0;
    k.save_current(f);
    // The replier goes back to what it was doing before the call.
    let cur = k.current;
    let frame = core::mem::take(&mut k.envs[cur].pct_frame);
    if frame != 0 {
        if let Ok(u) = user::read::<UTrapFrame>(frame) {
            if u.rip < USER_TOP && u.rsp <= USER_TOP {
                let c = &mut k.envs[cur].ctx;
                *c = context_from(&u, c);
            }
        }
    }
    k.info_mut(t).status = status::RUNNABLE;
    let ctx = &mut k.envs[t].ctx;
    ctx.rax = 0;
    msg.store(ctx);
    k.switch_to(t, f, false);
    Ok(Outcome::Switched)
}
