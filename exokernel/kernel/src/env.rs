//! Environments: the kernel's record of each (address space, saved context,
//! upcall state) beside the public part exposed read-only at UENVS, and the
//! mechanisms that move the CPU between them: time slices, directed yield,
//! upcalls, protected control transfer, wakeup predicates and revocation.
//! Policy (who runs when, beyond the slice vector) belongs to the libOS.

use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap_frame::TrapFrame;
use crate::mem::frames::PAGES;
use crate::mem::paging::{self, AddressSpace};
use crate::mem::{user, PAGE_SIZE};
use crate::{kprintln, machine, traps};
use core::sync::atomic::Ordering;
use exo_abi::cap::{Cap, PERM_WRITE};
use exo_abi::env::{env_slot, status, EnvInfo, SysInfo, MAX_TAKEN, NENV, NSLICES};
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::Error;
use exo_abi::trap::UTrapFrame;
use exo_abi::wakeup::{WkTerm, MAX_TERMS};
use exo_kcore::slices::Slices;
use spin::Mutex;

/// Ticks an environment may spend in its slice-end upcall before the kernel
/// takes the CPU and charges it the excess.
const EPILOGUE_GRACE: u64 = 2;

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

/// The kernel-private part of an environment.
pub struct Env {
    pub space: Option<AddressSpace>,
    pub ctx: TrapFrame,
    /// For AWAIT_REPLY: whom it called.
    pub awaiting: u32,
    pub in_epilogue: bool,
    pub epilogue_deadline: u64,
    /// Slices still to skip for overrunning the epilogue grace period.
    pub excess_debt: u64,
    pub wk: [WkTerm; MAX_TERMS],
    pub wk_len: usize,
    pub async_msg: Option<Message>,
    pub revoke_pending: bool,
    /// The frame pushed for the synchronous PCT it is serving (0: none): on
    /// reply it resumes from there, so serving calls never deepens its stack.
    pub pct_frame: u64,
}

impl Env {
    const EMPTY: Env = Env {
        space: None,
        ctx: TrapFrame::ZERO,
        awaiting: 0,
        in_epilogue: false,
        epilogue_deadline: 0,
        excess_debt: 0,
        wk: [WkTerm::NONE; MAX_TERMS],
        wk_len: 0,
        async_msg: None,
        revoke_pending: false,
        pct_frame: 0,
    };
}

pub struct Kernel {
    pub envs: [Env; NENV],
    /// Slot of the running environment (0: none).
    pub current: usize,
    pub slices: Slices,
    pub init_id: u32,
    generation: [u32; NENV],
    info: *mut EnvInfo,
    sys: *mut SysInfo,
}

// SAFETY: the raw pointers name kernel pages used only under the KERNEL lock.
unsafe impl Send for Kernel {}

pub static KERNEL: Mutex<Kernel> = Mutex::new(Kernel {
    envs: [const { Env::EMPTY }; NENV],
    current: 0,
    slices: Slices::new(),
    init_id: 0,
    generation: [0; NENV],
    info: core::ptr::null_mut(),
    sys: core::ptr::null_mut(),
});

pub fn now() -> u64 {
    traps::TICKS.load(Ordering::Relaxed)
}

impl Kernel {
    /// Gives the kernel its exposed tables (kernel-region addresses).
    pub fn set_tables(&mut self, info: *mut EnvInfo, sys: *mut SysInfo) {
        self.info = info;
        self.sys = sys;
    }

    pub fn info(&self, slot: usize) -> &'static mut EnvInfo {
        // SAFETY: `info` points at NENV records in kernel-owned pages, set at
        // boot; callers index with slots < NENV and hold the KERNEL lock.
        unsafe { &mut *self.info.add(slot) }
    }

    pub fn sys(&self) -> &'static mut SysInfo {
        // SAFETY: as for `info`.
        unsafe { &mut *self.sys }
    }

    pub fn current_id(&self) -> u32 {
        self.info(self.current).id
    }

    /// The slot of a live environment.
    pub fn slot_of(&self, id: u32) -> Result<usize, Error> {
        let slot = env_slot(id);
        if slot == 0
            || slot >= NENV
            || self.info(slot).id != id
            || self.info(slot).status == status::FREE
        {
            return Err(Error::NoEnv);
        }
        Ok(slot)
    }

    /// The capability in slot `cap_slot` of environment `slot`'s list.
    pub fn cap(&self, slot: usize, cap_slot: u64) -> Result<Cap, Error> {
        let c = *self
            .info(slot)
            .caps
            .get(cap_slot as usize)
            .ok_or(Error::Invalid)?;
        if c.is_valid() {
            Ok(c)
        } else {
            Err(Error::Denied)
        }
    }

    /// Checks that the caller's capability controls environment `id`.
    pub fn control(&self, id: u32, cap_slot: u64) -> Result<usize, Error> {
        let slot = self.slot_of(id)?;
        let cap = self.cap(self.current, cap_slot)?;
        if cap.allows(&self.info(slot).guard, PERM_WRITE) {
            Ok(slot)
        } else {
            Err(Error::Denied)
        }
    }

    /// Creates an environment guarded by `guard`, not yet runnable.
    pub fn create(&mut self, parent: u32, guard: Cap) -> Result<usize, Error> {
        let slot = (1..NENV)
            .find(|&s| self.info(s).status == status::FREE)
            .ok_or(Error::NoMem)?;
        let space = AddressSpace::new().map_err(|_| Error::NoMem)?;
        self.generation[slot] = (self.generation[slot] + 1) & 0x00ff_ffff;
        let id = (self.generation[slot] << 8) | slot as u32;
        self.envs[slot] = Env::EMPTY;
        self.envs[slot].space = Some(space);
        self.envs[slot].ctx = TrapFrame {
            cs: USER_CS as u64,
            ss: USER_DS as u64,
            rflags: 0x202,
            ..TrapFrame::ZERO
        };
        crate::trace::emit(
            exo_abi::trace::class::SCHED,
            exo_abi::trace::event::ENV_CREATE,
            slot,
            id as u64,
            parent as u64,
        );
        *self.info(slot) = EnvInfo {
            id,
            status: status::NOT_RUNNABLE,
            parent,
            guard,
            ..EnvInfo::default()
        };
        Ok(slot)
    }

    /// Ends environment `slot`. The caller must reschedule if it was current.
    pub fn destroy(&mut self, slot: usize, exit_status: u8) {
        let id = self.info(slot).id;
        crate::dpf::env_gone(id);
        crate::trace::emit(
            exo_abi::trace::class::SCHED,
            exo_abi::trace::event::ENV_EXIT,
            slot,
            exit_status as u64,
            id as u64,
        );
        if id == self.init_id {
            kprintln!(
                "exo: {} exited with status {exit_status}",
                crate::program_name()
            );
            machine::exit(exit_status);
        }
        if exit_status != 0 {
            kprintln!("exo: environment {id:#x} exited with status {exit_status}");
        }
        for s in 1..NENV {
            let i = self.info(s);
            if i.status == status::AWAIT_REPLY && self.envs[s].awaiting == id {
                self.envs[s].ctx.rax = (-(Error::NoEnv as i64)) as u64;
                i.status = status::RUNNABLE;
            }
        }
        self.slices.release(id);
        if self.current == slot {
            paging::activate_kernel();
            self.current = 0;
        }
        if let Some(space) = self.envs[slot].space.take() {
            let mut guard = PAGES.lock();
            let pages = guard.as_mut().expect("records");
            let pages = core::cell::RefCell::new(pages);
            space.destroy(
                |pa| pages.borrow_mut().unref(pa / PAGE_SIZE),
                |pa| pages.borrow_mut().free_kernel(pa / PAGE_SIZE),
            );
            pages.borrow_mut().release_owner(id);
        }
        self.envs[slot] = Env::EMPTY;
        // Keep the id and status visible until the slot is reused.
        *self.info(slot) = EnvInfo {
            id,
            status: status::FREE,
            exit_status: exit_status as u32,
            ..EnvInfo::default()
        };
        self.publish_slices();
    }

    /// Refreshes the slice counts in the exposed tables.
    pub fn publish_slices(&mut self) {
        let owners = *self.slices.owners();
        self.sys().slices = owners;
        for s in 1..NENV {
            let id = self.info(s).id;
            self.info(s).slices = if id == 0 { 0 } else { self.slices.count(id) };
        }
    }

    /// Saves the running environment's registers.
    pub fn save_current(&mut self, f: &TrapFrame) {
        if self.current != 0 {
            self.envs[self.current].ctx = *f;
        }
    }

    /// Pushes an upcall frame (the state in `f`) on environment `slot`'s
    /// exception stack and points `f` at `entry`. Fails if the environment
    /// has no usable exception stack.
    pub fn push_upcall(
        &mut self,
        slot: usize,
        f: &mut TrapFrame,
        vector: u64,
        err: u64,
        arg: u64,
        entry: u64,
    ) -> Result<(), ()> {
        let e = self.info(slot).entries;
        let (top, size) = (e.xstack_top, e.xstack_size);
        if entry == 0 || entry >= USER_TOP || top == 0 || top > USER_TOP || size == 0 || size > top
        {
            return Err(());
        }
        // Nested upcall: stay below the interrupted frame, leaving room for
        // the return address the libOS's resume code writes under its rsp.
        let sp = if f.rsp <= top && f.rsp > top - size {
            f.rsp - 16
        } else {
            top
        };
        let frame = (sp - core::mem::size_of::<UTrapFrame>() as u64) & !15;
        if frame < top - size {
            return Err(());
        }
        let u = UTrapFrame {
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
        };
        let pml4 = self.envs[slot].space.as_ref().ok_or(())?.pml4;
        user::copy_out_in(pml4, frame, user::bytes_of(&u)).map_err(|_| ())?;
        f.rip = entry;
        f.rsp = frame;
        f.rdi = frame;
        f.rflags = 0x202;
        f.cs = USER_CS as u64;
        f.ss = USER_DS as u64;
        Ok(())
    }

    /// Whether environment `id` may run now; wakes it if its predicate holds.
    fn ready(&mut self, id: u32) -> bool {
        let Ok(slot) = self.slot_of(id) else {
            return false;
        };
        let info = self.info(slot);
        let env = &mut self.envs[slot];
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
        for _ in 0..NENV {
            match self.slot_of(id) {
                Ok(s) if self.info(s).status == status::AWAIT_REPLY => id = self.envs[s].awaiting,
                _ => break,
            }
        }
        id
    }

    /// Makes `slot` the running environment with its saved state in `f`,
    /// delivering one pending upcall. `new_slice`: it is starting a slice.
    pub fn switch_to(&mut self, slot: usize, f: &mut TrapFrame, new_slice: bool) {
        let from = if self.current != 0 {
            self.info(self.current).id
        } else {
            0
        };
        crate::trace::emit(
            exo_abi::trace::class::SCHED,
            exo_abi::trace::event::SWITCH,
            slot,
            from as u64,
            self.info(slot).id as u64,
        );
        self.current = slot;
        self.sys().current_env = self.info(slot).id;
        self.envs[slot]
            .space
            .as_ref()
            .expect("live env has a space")
            .activate();
        *f = self.envs[slot].ctx;
        self.envs[slot].in_epilogue = false;
        let entries = self.info(slot).entries;
        let delivered = if self.envs[slot].revoke_pending && entries.revoke != 0 {
            self.envs[slot].revoke_pending = false;
            let r = self.info(slot).revocation;
            Some(self.push_upcall(
                slot,
                f,
                exo_abi::trap::UPCALL_REVOKE,
                r.requested as u64,
                r.deadline,
                entries.revoke,
            ))
        } else if let Some(m) = self.envs[slot].async_msg.take() {
            let r = self.push_upcall(
                slot,
                f,
                exo_abi::trap::UPCALL_PCT,
                1,
                m.from as u64,
                entries.pct_async,
            );
            m.store(f);
            f.rsi = m.from as u64;
            Some(r)
        } else if new_slice && entries.slice_start != 0 {
            Some(self.push_upcall(
                slot,
                f,
                exo_abi::trap::UPCALL_SLICE_START,
                0,
                0,
                entries.slice_start,
            ))
        } else {
            None
        };
        if delivered == Some(Err(())) {
            kprintln!(
                "exo: environment {:#x} has no usable exception stack for an upcall",
                self.info(slot).id
            );
            self.destroy(slot, exo_abi::boot::exit::FAULT_BASE);
            self.schedule(f);
        }
    }

    /// Saves nothing; picks the next slice whose owner is ready and enters
    /// it, idling with interrupts on while nobody is.
    pub fn schedule(&mut self, f: &mut TrapFrame) {
        loop {
            self.check_revocations();
            // Packets that arrived while we idled may wake their owner.
            crate::dpf::poll(self);
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

    /// The abort protocol: takes, from each environment whose revocation
    /// deadline passed, the pages it still owes, and records them.
    pub fn check_revocations(&mut self) {
        let t = now();
        for slot in 1..NENV {
            let r = &mut self.info(slot).revocation;
            if r.requested == 0 {
                continue;
            }
            if r.returned >= r.requested {
                r.requested = 0;
                continue;
            }
            if t < r.deadline {
                continue;
            }
            let owed = (r.requested - r.returned) as usize;
            let id = self.info(slot).id;
            let mut victims = [0u64; MAX_TAKEN];
            let mut n = 0;
            {
                let pages = PAGES.lock();
                for ppn in pages.as_ref().expect("records").owned_by(id) {
                    if n == owed.min(MAX_TAKEN) {
                        break;
                    }
                    victims[n] = ppn;
                    n += 1;
                }
            }
            let mut taken = 0;
            for &ppn in &victims[..n] {
                let space = self.envs[slot].space.as_mut().expect("live env");
                let unmapped = space.unmap_frame(ppn * PAGE_SIZE);
                let mut pages = PAGES.lock();
                let pages = pages.as_mut().expect("records");
                for _ in 0..unmapped {
                    pages.unref(ppn);
                }
                if pages.repossess(ppn, id).is_ok() {
                    self.info(slot).revocation.taken[taken] = ppn;
                    taken += 1;
                }
            }
            let r = &mut self.info(slot).revocation;
            r.taken_count = taken as u32;
            r.requested = 0;
            kprintln!("exo: abort protocol: took {taken} page(s) from environment {id:#x}");
            crate::trace::emit(
                exo_abi::trace::class::MEM,
                exo_abi::trace::event::ABORT,
                slot,
                taken as u64,
                id as u64,
            );
        }
    }

    /// Timer tick that interrupted user code: slice accounting.
    pub fn tick(&mut self, f: &mut TrapFrame) {
        let t = now();
        self.sys().ticks = t;
        crate::dpf::poll(self);
        if self.current == 0 {
            return;
        }
        let slot = self.current;
        let info = self.info(slot);
        info.ticks_run += 1;
        self.check_revocations();
        let env = &mut self.envs[slot];
        if env.in_epilogue {
            if t < env.epilogue_deadline {
                return;
            }
            env.in_epilogue = false;
            env.excess_debt += 1;
            info.excess_ticks += 1;
        } else {
            let entry = self.info(slot).entries.slice_end;
            if entry != 0
                && self
                    .push_upcall(slot, f, exo_abi::trap::UPCALL_SLICE_END, 0, t, entry)
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
