//! The environment table: creating and ending environments, and the calls
//! that build one (`env_create`, `env_set_context`, `env_run`,
//! `env_destroy`).

use super::{upcall, Env, Kernel};
use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap_frame::TrapFrame;
use crate::mem::frames::PAGES;
use crate::mem::paging::{self, AddressSpace};
use crate::mem::{user, PAGE_SIZE};
use crate::syscalls::{done, val, Cx, Outcome, SysResult};
use crate::{kprintln, machine};
use exo_abi::cap::{Cap, PERM_WRITE};
use exo_abi::env::{status, EnvInfo, Quota, Resource, NENV};
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::{args, Error};
use exo_abi::trap::UTrapFrame;

impl Kernel {
    /// Creates an environment guarded by `guard`, not yet runnable.
    pub fn create(&mut self, parent: u32, guard: Cap) -> Result<usize, Error> {
        let slot = (1..NENV)
            .find(|&s| self.info(s).status == status::FREE)
            .ok_or(Error::NoMem)?;
        // It inherits its parent's limits; it counts as an environment,
        // and its PML4 as a page.
        let quota = match self.slot_of(parent) {
            Ok(p) if self.fits(p, Resource::Pages, 1) && self.fits(p, Resource::Envs, 1) => {
                let mut q = Quota::default();
                for r in Resource::ALL {
                    q.get_mut(r).limit = self.info(p).quota.get(r).limit;
                }
                q
            }
            Ok(_) => return Err(Error::Quota),
            Err(_) => self.root_quota(),
        };
        let space = AddressSpace::new().map_err(|_| Error::NoMem)?;
        self.generation[slot] = (self.generation[slot] + 1) & 0x00ff_ffff;
        let id = (self.generation[slot] << 8) | slot as u32;
        self.envs[slot] = Env::EMPTY;
        self.envs[slot].space = Some(space);
        crate::arch::ustate::reset(slot);
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
        *self.info_mut(slot) = EnvInfo {
            id,
            status: status::NOT_RUNNABLE,
            parent,
            guard,
            quota,
            ..EnvInfo::default()
        };
        self.force_charge(slot, Resource::Pages, 1);
        self.force_charge(slot, Resource::Envs, 1);
        Ok(slot)
    }

    /// Ends environment `slot`. The caller must reschedule if it was current.
    pub fn destroy(&mut self, slot: usize, exit_status: u8) {
        let id = self.info(slot).id;
        crate::dpf::env_gone(id);
        crate::xn::env_gone(id);
        crate::trace::emit(
            exo_abi::trace::class::SCHED,
            exo_abi::trace::event::ENV_EXIT,
            slot,
            exit_status as u64,
            id as u64,
        );
        if id == self.init_id {
            // Deep kernel paths must stay well clear of the guard page.
            let used = crate::trap_stack_used();
            if used > crate::TRAP_STACK_SIZE * 3 / 4 {
                kprintln!("exo: warning: the kernel's trap stack was {used} bytes deep at most");
            }
            crate::kinfo!(
                "exo: {} exited with status {exit_status}",
                crate::program_name()
            );
            if let Some(net) = crate::drivers::virtio_net::NET.lock().as_mut() {
                net.drain_tx(10_000_000);
            }
            machine::exit(exit_status);
        }
        if exit_status != 0 {
            crate::kinfo!("exo: environment {id:#x} exited with status {exit_status}");
        }
        // Whoever waits for its reply gets NoEnv instead.
        for s in 1..NENV {
            let (env, info) = self.parts_mut(s);
            if info.status == status::AWAIT_REPLY && env.awaiting == id {
                env.ctx.rax = crate::syscalls::err_code(Error::NoEnv);
                info.status = status::RUNNABLE;
            }
        }
        self.slices.release(id);
        self.settle_exit(slot);
        if self.current == slot {
            paging::activate_kernel();
            self.current = 0;
        }
        if let Some(space) = self.envs[slot].space.take() {
            let mut guard = PAGES.lock();
            let pages = guard.as_mut().expect("page records are built at boot");
            let pages = core::cell::RefCell::new(pages);
            space.destroy(
                |pa| pages.borrow_mut().unref(pa / PAGE_SIZE),
                |pa| pages.borrow_mut().free_kernel(pa / PAGE_SIZE),
            );
            pages.borrow_mut().release_owner(id);
        }
        crate::xn::maps::forget_env(id);
        self.envs[slot] = Env::EMPTY;
        // Keep the id and status visible until the slot is reused.
        *self.info_mut(slot) = EnvInfo {
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
        self.sys_mut().slices = owners;
        for s in 1..NENV {
            let id = self.info(s).id;
            self.info_mut(s).slices = if id == 0 { 0 } else { self.slices.count(id) };
        }
    }
}

pub fn sys_env_id(cx: &mut Cx<'_>, _: args::GetEnvId) -> SysResult {
    val(cx.k.current_id() as u64)
}

pub fn sys_create(cx: &mut Cx<'_>, a: args::EnvCreate) -> SysResult {
    let guard = cx.k.my_cap(a.guard)?;
    if guard.perm & PERM_WRITE == 0 {
        return Err(Error::Denied);
    }
    let parent = cx.k.current_id();
    let slot = cx.k.create(parent, guard)?;
    val(cx.k.info(slot).id as u64)
}

pub fn sys_set_context(cx: &mut Cx<'_>, a: args::EnvSetContext) -> SysResult {
    let target = cx.k.control(a.env, a.cap)?;
    if target == cx.k.current {
        return Err(Error::Invalid);
    }
    let u: UTrapFrame = user::read(a.frame.ptr).map_err(|_| Error::Fault)?;
    if u.rip >= USER_TOP || u.rsp > USER_TOP {
        return Err(Error::Invalid);
    }
    let c = &mut cx.k.envs[target].ctx;
    *c = upcall::context_from(&u, c);
    done()
}

pub fn sys_set_bases(cx: &mut Cx<'_>, a: args::SetBases) -> SysResult {
    crate::arch::ustate::set_bases(cx.k.current, a.fs.get(), a.gs.get());
    done()
}

pub fn sys_run(cx: &mut Cx<'_>, a: args::EnvRun) -> SysResult {
    let slot = cx.k.control(a.env, a.cap)?;
    let info = cx.k.info_mut(slot);
    if info.status == status::NOT_RUNNABLE {
        info.status = status::RUNNABLE;
    }
    done()
}

pub fn sys_destroy(cx: &mut Cx<'_>, a: args::EnvDestroy) -> SysResult {
    let slot = cx.k.control(a.env, a.cap)?;
    let was_current = slot == cx.k.current;
    if !was_current {
        cx.k.save_current(cx.f);
    }
    cx.k.destroy(slot, exo_abi::boot::exit::DESTROYED);
    if was_current {
        cx.k.schedule(cx.f);
        return Ok(Outcome::Switched);
    }
    done()
}
