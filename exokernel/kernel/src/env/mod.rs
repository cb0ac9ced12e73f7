//! Environments (thesis §3.3): the kernel's record of each (address space,
//! saved context, upcall state) beside the public part exposed read-only at
//! UENVS, and the system calls on them, one file per job: the table
//! (`table`), capabilities (`caps`), the CPU (`sched`), upcalls (`upcall`),
//! protected control transfer (`pct`) and revocation (`revoke`). Policy
//! (who runs when, beyond the slice vector) belongs to the libOS.
//!
//! Lock order: `KERNEL` first (system calls, the timer and device
//! interrupts from user mode, the scheduler), then at most one of these,
//! taken after it and released before the call returns: `xn::XN` (which
//! takes `frames::PAGES` and `virtio_blk::BLK` inside, one at a time),
//! `dpf::STATE` (which takes `virtio_net::NET` inside), `virtio_net::NET`,
//! `virtio_blk::BLK`, `frames::PAGES`. The heap, `console::COM1` and the
//! trace ring are leaves any code may take last. Interrupts that arrive
//! while the kernel runs only count ticks, so none of these is ever taken
//! twice on the one CPU.

pub mod caps;
pub mod pct;
pub mod quota;
pub mod revoke;
pub mod sched;
pub mod table;
pub mod upcall;

use crate::arch::trap_frame::TrapFrame;
use crate::mem::paging::AddressSpace;
use crate::traps;
use core::sync::atomic::Ordering;
use exo_abi::cap::{Cap, PERM_WRITE};
use exo_abi::env::{env_slot, status, EnvInfo, SysInfo, NENV};
use exo_abi::syscall::arg::{CapSlot, EnvId};
use exo_abi::syscall::Error;
use exo_abi::wakeup::{WkTerm, MAX_TERMS};
use exo_kcore::slices::Slices;
pub use pct::Message;
use spin::Mutex;

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

/// The tables every environment sees read-only (kernel pages set at boot).
pub struct Exposed {
    pub info: &'static mut [EnvInfo; NENV],
    pub sys: &'static mut SysInfo,
}

pub struct Kernel {
    pub envs: [Env; NENV],
    /// Slot of the running environment (0: none).
    pub current: usize,
    pub slices: Slices,
    pub init_id: u32,
    /// The first environment's page limit: free RAM at boot less what the
    /// kernel keeps for itself (see `quota`).
    pub root_pages: u64,
    generation: [u32; NENV],
    exposed: Option<Exposed>,
}

pub static KERNEL: Mutex<Kernel> = Mutex::new(Kernel {
    envs: [const { Env::EMPTY }; NENV],
    current: 0,
    slices: Slices::new(),
    init_id: 0,
    root_pages: 0,
    generation: [0; NENV],
    exposed: None,
});

pub fn now() -> u64 {
    traps::TICKS.load(Ordering::Relaxed)
}

impl Kernel {
    /// Gives the kernel its exposed tables.
    pub fn set_tables(&mut self, tables: Exposed) {
        self.exposed = Some(tables);
    }

    fn exposed(&self) -> &Exposed {
        self.exposed.as_ref().expect("tables are exposed at boot")
    }

    fn exposed_mut(&mut self) -> &mut Exposed {
        self.exposed.as_mut().expect("tables are exposed at boot")
    }

    /// The public record of environment `slot` (< NENV).
    pub fn info(&self, slot: usize) -> &EnvInfo {
        &self.exposed().info[slot]
    }

    pub fn info_mut(&mut self, slot: usize) -> &mut EnvInfo {
        &mut self.exposed_mut().info[slot]
    }

    /// Both records of environment `slot`, borrowed together.
    pub fn parts_mut(&mut self, slot: usize) -> (&mut Env, &mut EnvInfo) {
        let info = &mut self
            .exposed
            .as_mut()
            .expect("tables are exposed at boot")
            .info[slot];
        (&mut self.envs[slot], info)
    }

    pub fn sys_mut(&mut self) -> &mut SysInfo {
        self.exposed_mut().sys
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

    /// The capability in slot `cap` of environment `slot`'s list.
    pub fn cap(&self, slot: usize, cap: CapSlot) -> Result<Cap, Error> {
        let c = *self
            .info(slot)
            .caps
            .get(cap.index())
            .ok_or(Error::Invalid)?;
        if c.is_valid() {
            Ok(c)
        } else {
            Err(Error::Denied)
        }
    }

    /// The caller's capability in slot `cap`.
    pub fn my_cap(&self, cap: CapSlot) -> Result<Cap, Error> {
        self.cap(self.current, cap)
    }

    /// Checks that the caller's capability `cap` controls environment `env`.
    pub fn control(&self, env: EnvId, cap: CapSlot) -> Result<usize, Error> {
        let slot = self.slot_of(env.0)?;
        if self.my_cap(cap)?.allows(&self.info(slot).guard, PERM_WRITE) {
            Ok(slot)
        } else {
            Err(Error::Denied)
        }
    }

    /// The caller's page-table root.
    pub fn current_pml4(&self) -> Result<u64, Error> {
        Ok(self.envs[self.current]
            .space
            .as_ref()
            .ok_or(Error::NoEnv)?
            .pml4)
    }
}
