//! Environments as the kernel exposes them: the read-only environment table
//! at [`crate::layout::UENVS`] and the system information page.

use crate::cap::{Cap, NCAPS};

/// Environment slots.
pub const NENV: usize = 64;
/// Time slices in the scheduling vector.
pub const NSLICES: usize = 32;
/// Pages a revocation record lists.
pub const MAX_TAKEN: usize = 32;

pub mod status {
    pub const FREE: u32 = 0;
    pub const RUNNABLE: u32 = 1;
    /// Created, not yet started.
    pub const NOT_RUNNABLE: u32 = 2;
    /// Sleeping on a wakeup predicate.
    pub const WAITING: u32 = 3;
    /// Waiting for the reply to a synchronous PCT.
    pub const AWAIT_REPLY: u32 = 4;
}

/// Upcall entry points an environment registers (0 = none).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entries {
    /// Faults (every exception vector), with a [`crate::trap::UTrapFrame`].
    pub exception: u64,
    /// Start of each of its time slices.
    pub slice_start: u64,
    /// End of a time slice: save state and yield within the grace period.
    pub slice_end: u64,
    /// Synchronous protected control transfer.
    pub pct_sync: u64,
    /// Asynchronous protected control transfer.
    pub pct_async: u64,
    /// Visible revocation: give back pages by the deadline.
    pub revoke: u64,
    /// Top of the exception stack all upcalls run on.
    pub xstack_top: u64,
    /// Bytes of the exception stack (nested upcalls must stay inside it).
    pub xstack_size: u64,
    /// A `syscall` instruction at an address in `[syscall_lo, syscall_hi)`
    /// is not a system call: it comes to `exception` as an upcall
    /// (`trap::UPCALL_SYSCALL`) for the library OS to carry out (a foreign
    /// program's calls, e.g. Linux's). Empty: none.
    pub syscall_lo: u64,
    pub syscall_hi: u64,
}

/// An environment's budgets (thesis §3.3: every resource is charged to
/// someone), one per kind of resource ([`Resource`]). Pages count every
/// page it holds: its own, its page-table pages, buffer-cache pages XN read
/// for it. Environments count itself and every environment it creates;
/// slices count the time slices it holds; filters its DPF filters (which
/// live on the kernel heap). Budgets nest: a charge must fit
/// under the limit of the environment and of every ancestor, so a parent
/// bounds what all its descendants together can take. A child starts with
/// its parent's limits; whoever controls it may lower (or raise, up to its
/// own limit) one with `quota_set`. What it held is uncharged when it ends.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    pub pages: Budget,
    pub envs: Budget,
    pub slices: Budget,
    pub filters: Budget,
}

/// One resource's budget.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// What it and its descendants may hold together.
    pub limit: u64,
    /// Charged to it alone.
    pub own: u64,
    /// Charged to it and its descendants.
    pub subtree: u64,
}

impl Budget {
    /// What a new charge may still take here.
    pub const fn headroom(&self) -> u64 {
        self.limit.saturating_sub(self.subtree)
    }
}

crate::enum_arg! {
    /// The kinds of resource budgets count.
    pub enum Resource {
        Pages = 0,
        Envs = 1,
        Slices = 2,
        Filters = 3,
    }
}

impl Resource {
    pub const ALL: [Resource; 4] = [
        Resource::Pages,
        Resource::Envs,
        Resource::Slices,
        Resource::Filters,
    ];
}

impl Quota {
    pub fn get(&self, r: Resource) -> &Budget {
        match r {
            Resource::Pages => &self.pages,
            Resource::Envs => &self.envs,
            Resource::Slices => &self.slices,
            Resource::Filters => &self.filters,
        }
    }

    pub fn get_mut(&mut self, r: Resource) -> &mut Budget {
        match r {
            Resource::Pages => &mut self.pages,
            Resource::Envs => &mut self.envs,
            Resource::Slices => &mut self.slices,
            Resource::Filters => &mut self.filters,
        }
    }
}

/// The record of a revocation request and of what the abort protocol took.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Revocation {
    /// Pages asked for (0 = no request pending).
    pub requested: u32,
    /// Pages given back since the request.
    pub returned: u32,
    /// Tick by which they must be given back.
    pub deadline: u64,
    /// Pages taken by force (the abort protocol), most recent request.
    pub taken_count: u32,
    pub _pad: u32,
    pub taken: [u64; MAX_TAKEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnvInfo {
    /// Environment id (`generation << 8 | slot`), 0 if the slot is free.
    pub id: u32,
    pub status: u32,
    pub parent: u32,
    /// Time slices it holds.
    pub slices: u32,
    /// After it ended (status FREE, id kept until the slot is reused): its
    /// exit status, as the kernel saw it (faults: FAULT_BASE + vector).
    pub exit_status: u32,
    pub _pad: u32,
    /// The capability that controls this environment.
    pub guard: Cap,
    pub entries: Entries,
    /// Timer ticks it has run.
    pub ticks_run: u64,
    /// Ticks it overran its slice-end grace period; charged against later slices.
    pub excess_ticks: u64,
    pub revocation: Revocation,
    pub quota: Quota,
    /// Its capability list (names only: holding a name grants nothing).
    pub caps: [Cap; NCAPS],
}

/// Machine-wide facts, read-only at [`crate::layout::USYSINFO`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SysInfo {
    pub ticks: u64,
    pub tsc_per_ms: u64,
    pub hz: u64,
    /// Physical pages described at UPAGES.
    pub npages: u64,
    /// Environment running now.
    pub current_env: u32,
    /// Id of the first environment.
    pub init_env: u32,
    /// Bytes of the initrd, mapped read-only at [`crate::layout::UINITRD`]
    /// plus `initrd_offset` (its offset within its first page).
    pub initrd_size: u64,
    pub initrd_offset: u64,
    /// Owner of each time slice (0 = free).
    pub slices: [u32; NSLICES],
    /// Arguments of the first program after its name (`exo.args=` on the
    /// command line, comma-separated), NUL-terminated.
    pub init_args: [u8; INIT_ARGS_LEN],
    /// Received packets DPF delivered to a ring, found no filter for, or
    /// dropped because the owner's ring was full or unusable.
    pub net_delivered: u64,
    pub net_unclaimed: u64,
    pub net_dropped: u64,
    /// Ctrl-C bytes (0x03) the console has received: counted as they
    /// arrive, whether or not a program reads them (a library OS's line
    /// discipline turns them into interrupts for the foreground).
    pub console_interrupts: u64,
    /// 1 if the console is a user's terminal (`exo.tty=1`), 0 if its input
    /// is a pipe or a file.
    pub console_terminal: u64,
}

/// Room for the first program's arguments in [`SysInfo`].
pub const INIT_ARGS_LEN: usize = 128;

/// The slot of an environment id.
pub const fn env_slot(id: u32) -> usize {
    (id & 0xff) as usize
}
