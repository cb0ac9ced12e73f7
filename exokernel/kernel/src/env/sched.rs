//! The CPU (thesis §3.3): the slice vector run round robin, directed yield
//! and donation, slice-end upcalls with excess-time accounting, wakeup
//! predicates, and the one way the kernel enters an environment.

use super::{now, Kernel};
use crate::arch::trap_frame::TrapFrame;
use crate::mem::user;
use crate::syscalls::{done, val, Cx, Outcome, SysResult};
use crate::{kprintln, traps};
use core::sync::atomic::Ordering;
use exo_abi::env::{status, Resource, NSLICES};
use exo_abi::syscall::{args, Error};
use exo_abi::trap::{UPCALL_PCT, UPCALL_REVOKE, UPCALL_SLICE_END, UPCALL_SLICE_START};
use exo_abi::wakeup::{WkTerm, MAX_TERMS};

/// Ticks an environment may spend in its slice-end upcall before the kernel
/// takes the CPU and charges it the excess.
const EPILOGUE_GRACE: u64 = 2;

impl Kernel {
    /// Saves the running environment's registers.
    pub fn save_current(&mut self, f: &TrapFrame) {
        if self.current != 0 {
            self.envs[self.current].ctx = *f;
        }
    }

    /// Makes `slot` the running environment with its saved registers in
    /// `f`: its address space, the exposed current id, the trace. Every
    /// switch (scheduler, yield, PCT) comes through here.
    pub fn enter(&mut self, slot: usize, f: &mut TrapFrame) {
        let from = if self.current != 0 {
            self.info(self.current).id
        } else {
            0
        };
        let id = self.info(slot).id;
        crate::trace::emit(
            exo_abi::trace::class::SCHED,
            exo_abi::trace::event::SWITCH,
            slot,
            from as u64,
            id as u64,
        );
        self.current = slot;
        crate::arch::ustate::switch_to(slot);
        self.sys_mut().current_env = id;
        self.envs[slot]
            .space
            .as_ref()
            .expect("live env has a space")
            .activate();
        *f = self.envs[slot].ctx;
        self.envs[slot].in_epilogue = false;
    }

    /// Enters `slot` and delivers one pending upcall (revocation, async
    /// PCT, or with `new_slice` the slice start). An environment that
    /// cannot take its own upcall is ended; another's message is dropped.
    pub fn switch_to(&mut self, slot: usize, f: &mut TrapFrame, new_slice: bool) {
        self.enter(slot, f);
        let entries = self.info(slot).entries;
        let delivered = if self.envs[slot].revoke_pending && entries.revoke != 0 {
            self.envs[slot].revoke_pending = false;
            let r = self.info(slot).revocation;
            Some(self.push_upcall(
                slot,
                f,
                UPCALL_REVOKE,
                r.requested as u64,
                r.deadline,
                entries.revoke,
            ))
        } else if let Some(m) = self.envs[slot].async_msg.take() {
            // Anyone may send; a message the receiver cannot take now (its
            // exception stack unusable or full) is lost, not the receiver.
            if self
                .push_upcall(slot, f, UPCALL_PCT, 1, m.from as u64, entries.pct_async)
                .is_ok()
            {
                m.store(f);
                f.rsi = m.from as u64;
            } else {
                crate::trace::emit(
                    exo_abi::trace::class::PCT,
                    exo_abi::trace::event::PCT_LOST,
                    slot,
                    m.from as u64,
                    0,
                );
            }
            None
        } else if new_slice && entries.slice_start != 0 {
            Some(self.push_upcall(slot, f, UPCALL_SLICE_START, 0, 0, entries.slice_start))
        } else {
            None
        };
        if let Some(Err(_)) = delivered {
            kprintln!(
                "exo: environment {:#x} has no usable exception stack for an upcall",
                self.info(slot).id
            );
            self.destroy(slot, exo_abi::boot::exit::FAULT_BASE);
            self.schedule(f);
        }
    }

    /// Whether environment `id` may run now; wakes it if its predicate holds.
    fn ready(&mut self, id: u32) -> bool {
        let Ok(slot) = self.slot_of(id) else {
            return false;
        };
        let (env, info) = self.parts_mut(slot);
        match info.status {
            status::RUNNABLE => {
                if env.excess_debt > 0 {
                    env.excess_debt -= 1;
                    return false;
                }
                true
            }
            status::WAITING => {
                let pml4 = env.space.as_ref().map_or(0, |s| s.pml4);
                let woke = env.async_msg.is_some()
                    || env.revoke_pending
                    || exo_kcore::wakeup::eval(&env.wk[..env.wk_len], now(), |va, w| {
                        user::read_word_in(pml4, va, w)
                    });
                if woke {
                    info.status = status::RUNNABLE;
                    env.wk_len = 0;
                }
                woke
            }
            _ => false,
        }
    }

    /// Who runs on `id`'s slice: a caller waiting for a synchronous PCT lends
    /// its time to the callee (and on down a chain of calls).
    fn lent_to(&self, mut id: u32) -> u32 {
        for _ in 0..exo_abi::env::NENV {
            match self.slot_of(id) {
                Ok(s) if self.info(s).status == status::AWAIT_REPLY => id = self.envs[s].awaiting,
                _ => break,
            }
        }
        id
    }

    /// Saves nothing; picks the next slice whose owner is ready and enters
    /// it, idling with interrupts on while nobody is.
    pub fn schedule(&mut self, f: &mut TrapFrame) {
        loop {
            self.check_revocations();
            // Packets that arrived while we idled may wake their owner;
            // console input (Ctrl-C) may too.
            crate::dpf::poll(self);
            self.sys_mut().console_interrupts += crate::console::poll_input();
            let mut chosen = None;
            for _ in 0..NSLICES {
                match self.slices.next(|_| true).map(|id| self.lent_to(id)) {
                    Some(id) if self.ready(id) => {
                        chosen = Some(id);
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            if let Some(slot) = chosen.and_then(|id| self.slot_of(id).ok()) {
                self.switch_to(slot, f, true);
                return;
            }
            // Nobody can run: wait for the next interrupt. The timer handler
            // only counts ticks when it interrupts the kernel, so holding the
            // kernel lock here is safe.
            self.current = 0;
            x86_64::instructions::interrupts::enable_and_hlt();
            x86_64::instructions::interrupts::disable();
        }
    }

    /// Directed switch to a ready environment for the rest of the slice.
    pub fn yield_to(&mut self, target: usize, f: &mut TrapFrame) -> Result<(), Error> {
        let id = self.info(target).id;
        if !self.ready(id) {
            return Err(Error::Busy);
        }
        self.save_current(f);
        self.switch_to(target, f, false);
        Ok(())
    }

    /// Timer tick that interrupted user code: slice accounting.
    pub fn tick(&mut self, f: &mut TrapFrame) {
        let t = now();
        self.sys_mut().ticks = t;
        self.sys_mut().console_interrupts += crate::console::poll_input();
        crate::dpf::poll(self);
        if self.current == 0 {
            return;
        }
        let slot = self.current;
        self.info_mut(slot).ticks_run += 1;
        self.check_revocations();
        let (env, info) = self.parts_mut(slot);
        if env.in_epilogue {
            if t < env.epilogue_deadline {
                return;
            }
            env.in_epilogue = false;
            env.excess_debt += 1;
            info.excess_ticks += 1;
        } else {
            let entry = info.entries.slice_end;
            if entry != 0
                && self
                    .push_upcall(slot, f, UPCALL_SLICE_END, 0, t, entry)
                    .is_ok()
            {
                let env = &mut self.envs[slot];
                env.in_epilogue = true;
                env.epilogue_deadline = t + EPILOGUE_GRACE;
                return;
            }
        }
        self.save_current(f);
        self.schedule(f);
    }
}

pub fn sys_exit(cx: &mut Cx<'_>, a: args::Exit) -> SysResult {
    let cur = cx.k.current;
    cx.k.destroy(cur, a.status);
    cx.k.schedule(cx.f);
    Ok(Outcome::Switched)
}

pub fn sys_ticks(_: &mut Cx<'_>, _: args::Ticks) -> SysResult {
    val(traps::TICKS.load(Ordering::Relaxed))
}

pub fn sys_slice_alloc(cx: &mut Cx<'_>, a: args::SliceAlloc) -> SysResult {
    let slot = cx.k.control(a.env, a.cap)?;
    let id = cx.k.info(slot).id;
    cx.k.charge(slot, Resource::Slices, 1)?;
    if let Err(e) = cx.k.slices.alloc(a.pos.index(), id) {
        cx.k.uncharge(slot, Resource::Slices, 1);
        return Err(e);
    }
    cx.k.publish_slices();
    done()
}

pub fn sys_slice_free(cx: &mut Cx<'_>, a: args::SliceFree) -> SysResult {
    let owner = cx.k.slices.owner(a.pos.index()).ok_or(Error::Invalid)?;
    cx.k.control(exo_abi::syscall::arg::EnvId(owner), a.cap)?;
    cx.k.slices.free(a.pos.index())?;
    cx.k.uncharge_id(owner, Resource::Slices, 1);
    cx.k.publish_slices();
    done()
}

pub fn sys_yield(cx: &mut Cx<'_>, a: args::Yield) -> SysResult {
    cx.f.rax = 0;
    let Some(to) = a.to else {
        cx.k.save_current(cx.f);
        cx.k.schedule(cx.f);
        return Ok(Outcome::Switched);
    };
    let slot = cx.k.slot_of(to.0)?;
    if slot == cx.k.current {
        return done();
    }
    cx.k.yield_to(slot, cx.f)?;
    Ok(Outcome::Switched)
}

pub fn sys_donate(cx: &mut Cx<'_>, a: args::Donate) -> SysResult {
    let target = cx.k.slot_of(a.to.0)?;
    if cx.k.slices.current_owner() != cx.k.current_id() {
        return Err(Error::Denied); // only the slice's owner gives it away
    }
    let id = cx.k.info(target).id;
    // The receiver holds one more slice, and must be allowed to.
    cx.k.charge(target, Resource::Slices, 1)?;
    let me = cx.k.current;
    cx.k.uncharge(me, Resource::Slices, 1);
    cx.k.slices.donate_current(id);
    cx.k.publish_slices();
    sys_yield(cx, args::Yield { to: Some(a.to) })
}

/// `wakeup`: sleep until the (verified) predicate holds.
pub fn sys_wakeup(cx: &mut Cx<'_>, a: args::Wakeup) -> SysResult {
    let mut terms = [WkTerm::default(); MAX_TERMS];
    let terms = &mut terms[..a.terms.len()];
    for (i, t) in terms.iter_mut().enumerate() {
        *t = user::read(a.terms.addr(i)).map_err(|_| Error::Fault)?;
    }
    exo_kcore::wakeup::verify(terms)?;
    let cur = cx.k.current;
    let (env, info) = cx.k.parts_mut(cur);
    env.wk[..terms.len()].copy_from_slice(terms);
    env.wk_len = terms.len();
    info.status = status::WAITING;
    cx.f.rax = 0;
    cx.k.save_current(cx.f);
    cx.k.schedule(cx.f);
    Ok(Outcome::Switched)
}
