//! Processes: a process is an environment plus this libOS's bookkeeping: a
//! private information page (pid, arguments, first descriptors) and an
//! entry in the process table that every process shares and `ps` reads.
//! Programs are loaded from the initrd into a new environment (spawn); fork
//! copies the caller with copy-on-write (see `fork`).

mod info;
mod load;
mod table;

pub(crate) use info::has_pinfo;
pub use info::{pinfo, PInfo, ARGS_LEN};
pub use load::spawn;
pub use table::{entry, state, table, Name, ProcEntry};

use crate::child::{Builder, Slice};
use crate::fd::{self, Fd, MAX_FDS};
use crate::layout::*;
use crate::sys::{self, Error};
use crate::{info as kinfo, scratch, vm};
use core::sync::atomic::Ordering;
use exo_abi::cap::PERM_ALL;
use exo_abi::trap::UTrapFrame;
use exo_abi::wakeup::{WkTerm, CMP_EQ};

pub fn pid() -> u32 {
    pinfo().pid
}

/// Arguments of this process.
pub fn args() -> impl Iterator<Item = &'static str> {
    pinfo().args()
}

/// This process's name in the process table.
pub fn name() -> Name {
    entry(pid()).name()
}

/// Sets up the first process of the system: the shared capability, the
/// process table and its own information page (console on fds 0-2).
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub(crate) fn init_first(name: &str) -> Result<(), Error> {
    sys::cap_derive(SLOT_SELF, SLOT_SHARED, b"P", PERM_ALL)?;
    let tab = vm::alloc_page(SLOT_SHARED)?;
    let info_page = vm::alloc_page(SLOT_SELF)?;
    let me = sys::env_id();
    // argv: the name, then the kernel's `exo.args` split at commas.
    let extra = kinfo::sysinfo()
        .init_args
        .split(|&b| b == 0)
        .next()
        .unwrap_or(&[]);
    let argv = core::iter::once(name.as_bytes())
        .chain(extra.split(|&b| b == b',').filter(|w| !w.is_empty()));
    let mut fds = [Fd::CLOSED; MAX_FDS];
    fds[..3].fill(Fd::CONSOLE);
    let info = PInfo::new(me, 0, argv, &fds);
    scratch::MAIN.fill(info_page, SLOT_SELF, |p| info.write_to(p), None)?;
    vm::apply(&[
        vm::map_op(PROCTAB_VA, tab, true, false, SLOT_SHARED),
        vm::map_op(PINFO_VA, info_page, false, false, SLOT_SELF),
    ])
    .map_err(|e| e.1)?;
    entry(me).enter(me, 0, name);
    Ok(())
}

/// Makes a child built in `b` a process described by `info`, named `name`
/// in the table: its information page, the shared table, the pipes its
/// descriptors use and the shared capability; then runs it from `ctx`.
pub(crate) fn start_child(
    mut b: Builder,
    info: &PInfo,
    name: &str,
    ctx: &UTrapFrame,
) -> Result<u32, Error> {
    let child = b.id();
    b.map_new(PINFO_VA, false, false, |p| info.write_to(p))?;
    let tab = vm::ppn_of(PROCTAB_VA).ok_or(Error::Invalid)?;
    b.map(PROCTAB_VA, tab, true, false, SLOT_SHARED)?;
    for (i, f) in info.fds.iter().enumerate() {
        match f.pipe_va() {
            // Both ends of one pipe use one page: mapped once.
            Some(va) if !info.fds[..i].iter().any(|g| g.pipe_va() == Some(va)) => {
                let ppn = vm::ppn_of(va).ok_or(Error::Invalid)?;
                b.map(va, ppn, true, false, SLOT_SHARED)?;
            }
            _ => {}
        }
    }
    b.grant(SLOT_SHARED, SLOT_SHARED)?;
    // Before it runs: it may exit (entering its status) or close a pipe
    // end at once.
    entry(child).enter(child, info.ppid, name);
    fd::share(&info.fds);
    b.run(ctx, Slice::AnyFree).inspect_err(|_| {
        fd::unshare(&info.fds);
        entry(child).state.store(state::FREE, Ordering::Release);
    })
}

/// Ends this process: closes its descriptors, leaves its status in the
/// process table for the parent, and exits.
pub fn exit(status: u8) -> ! {
    if has_pinfo() {
        fd::close_all();
        // Like stdio's buffers: what this process changed in the file
        // system reaches the disk when it exits.
        let _ = crate::files::sync();
        let e = entry(pid());
        e.status.store(status as u32, Ordering::Relaxed);
        e.state.store(state::ZOMBIE, Ordering::Release);
    }
    sys::exit(status)
}

/// Waits for child `pid` to end and returns its exit status (for a child
/// that ended without the libOS's exit: what the kernel recorded, e.g. 78
/// for an unhandled page fault).
pub fn wait(pid: u32) -> u8 {
    let slot = child_cap_slot(pid);
    let e = entry(pid);
    let state_addr = &e.state as *const _ as u64;
    let gone = kinfo::env_gone_terms(pid);
    let terms = [
        WkTerm::mem(state_addr, 4, CMP_EQ, state::ZOMBIE as u64),
        WkTerm::OR,
        gone[0],
        gone[1],
        gone[2],
    ];
    while e.state.load(Ordering::Acquire) != state::ZOMBIE && kinfo::env(pid).is_some() {
        let _ = sys::wakeup(&terms);
    }
    let status = if e.state.load(Ordering::Acquire) == state::ZOMBIE {
        e.status.load(Ordering::Relaxed) as u8
    } else {
        // Ended without the libOS's exit (a fault, or destroyed): the kernel knows.
        kinfo::exit_status(pid).unwrap_or(137)
    };
    // Wait for the environment itself to be gone, then reap.
    while kinfo::env(pid).is_some() {
        let _ = sys::wakeup(&gone);
    }
    e.state.store(state::FREE, Ordering::Release);
    if let Some(s) = slot {
        let _ = sys::cap_drop(s);
    }
    status
}

/// The capability slot through which we control child `pid`.
pub fn child_cap_slot(pid: u32) -> Option<usize> {
    let child = kinfo::env(pid)?;
    let me = kinfo::env(sys::env_id())?;
    (SLOT_CHILDREN..me.caps.len())
        .find(|&s| me.caps[s].is_valid() && me.caps[s].dominates(&child.guard))
}

/// Starts `path` and waits for it (exec followed by the caller's wait).
pub fn run(path: &str, argv: &[&str]) -> Result<u8, Error> {
    let child = spawn(path, argv, &fd::snapshot()?)?;
    Ok(wait(child))
}
