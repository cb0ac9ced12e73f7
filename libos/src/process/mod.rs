//! Processes: a process is an environment plus this libOS's bookkeeping: a
//! private information page (pid, arguments, first descriptors) and an
//! entry in the process table, its own page that all may read and only it
//! (and its ancestors) may write.
//! Programs are loaded from the initrd into a new environment (spawn); fork
//! copies the caller with copy-on-write (see `fork`).

mod info;
mod load;
mod table;

pub(crate) use info::has_pinfo;
pub use info::{pinfo, PInfo, ARGS_LEN};
pub use load::spawn;
pub use table::{entries, entry, entry_va, state, Name, ProcEntry};

use crate::child::{Builder, Slice};
use crate::fd::{self, Fd, MAX_FDS};
use crate::layout::*;
use crate::sys::{self, Error};
use crate::{info as kinfo, scratch, vm};
use core::sync::atomic::Ordering;
use exo_abi::cap::{PERM_ALL, PERM_GRANT, PERM_READ};
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
    entry(pid()).map_or(Name::EMPTY, |e| e.name())
}

/// Sets up the first process of the system: the shared capability, the
/// table's reader, its own entry and information page (console on fds 0-2).
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub(crate) fn init_first(name: &str) -> Result<(), Error> {
    sys::cap_derive(SLOT_SELF, SLOT_SHARED, SHARED_CAP_EXT, PERM_ALL)?;
    sys::cap_derive(SLOT_SELF, SLOT_TABLE, TABLE_CAP_EXT, PERM_READ | PERM_GRANT)?;
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
    vm::apply(&[vm::map_op(PINFO_VA, info_page, false, false, SLOT_SELF)]).map_err(|e| e.1)?;
    new_entry(SLOT_SELF, me, 0, name)?;
    crate::fslock::create()?;
    Ok(())
}

/// Makes the entry of process `pid` (guarded by our capability in `guard`,
/// which is `pid`'s own), mapped here writable, readable by all.
fn new_entry(guard: usize, pid: u32, ppid: u32, name: &str) -> Result<ProcEntryPage, Error> {
    let va = entry_va(pid);
    // The slot's last process: a child of ours not yet reaped keeps its
    // entry in the zombie area; anyone else's is let go.
    if vm::ppn_of(va).is_some() && !table::park_zombie(va) {
        vm::unmap(va)?;
    }
    let ppn = vm::alloc_page(guard)?;
    vm::apply(&[vm::map_op(va, ppn, true, false, guard)]).map_err(|e| e.1)?;
    sys::p_share(ppn, guard, SLOT_TABLE)?;
    // A new process starts in its parent's group (the first in its own).
    let pgid = entry(ppid).map_or(pid, |p| p.pgid.load(Ordering::Relaxed));
    let pgid = if pgid == 0 { pid } else { pgid };
    // SAFETY: just mapped writable at `va`; a ProcEntry fits in the page.
    unsafe { &*(va as *const ProcEntry) }.enter(pid, ppid, pgid, name);
    Ok(ProcEntryPage { va, ppn })
}

/// Where a new entry is.
struct ProcEntryPage {
    va: u64,
    ppn: u64,
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
    for (i, f) in info.fds.iter().enumerate() {
        match f.pipe_va() {
            // Both ends of one pipe use its pages: mapped once, and the
            // pipe's capability goes with them (in the same slot as ours).
            Some(va) if !info.fds[..i].iter().any(|g| g.pipe_va() == Some(va)) => {
                let first = vm::ppn_of(va).ok_or(Error::Invalid)?;
                let cap = crate::pipe::cap_slot(first).ok_or(Error::Denied)?;
                for page in (va..va + PIPE_BYTES).step_by(4096) {
                    let ppn = vm::ppn_of(page).ok_or(Error::Invalid)?;
                    b.map(page, ppn, true, false, cap)?;
                }
                b.grant(cap, cap)?;
            }
            _ => {}
        }
    }
    b.grant(SLOT_SHARED, SLOT_SHARED)?;
    b.grant(SLOT_TABLE, SLOT_TABLE)?;
    crate::fslock::give(&mut b)?;
    // Its entry, before it runs (it may exit at once): ours to read until
    // we reap it, its own to write.
    let slot = b.slot();
    let e = new_entry(slot, child, info.ppid, name)?;
    let given = b
        .map(e.va, e.ppn, true, false, slot)
        .and_then(|()| sys::p_grant(e.ppn, slot, child));
    if let Err(err) = given {
        let _ = vm::unmap(e.va);
        return Err(err);
    }
    fd::share(&info.fds);
    let run = b.run(ctx, Slice::AnyFree).inspect_err(|_| {
        fd::unshare(&info.fds);
        let _ = vm::unmap(e.va);
    });
    if let Ok(id) = run {
        remember_cap_slot(id, slot);
    }
    run
}

/// Which of our capability slots controls each child (pid and slot, in
/// any free place): once a child has ended, its capability no longer
/// matches anything the kernel shows, yet the slot must be freed.
static CHILD_CAPS: [core::sync::atomic::AtomicU64; exo_abi::env::NENV] =
    [const { core::sync::atomic::AtomicU64::new(0) }; exo_abi::env::NENV];

fn remember_cap_slot(pid: u32, slot: usize) {
    let v = (pid as u64) << 32 | slot as u64;
    if let Some(free) = CHILD_CAPS.iter().find(|c| c.load(Ordering::Relaxed) == 0) {
        free.store(v, Ordering::Relaxed);
    }
}

fn remembered(pid: u32) -> Option<&'static core::sync::atomic::AtomicU64> {
    CHILD_CAPS
        .iter()
        .find(|c| c.load(Ordering::Relaxed) >> 32 == pid as u64)
}

/// Forgets and returns the slot remembered for child `pid`.
fn take_cap_slot(pid: u32) -> Option<usize> {
    remembered(pid).map(|c| (c.swap(0, Ordering::Relaxed) & 0xffff_ffff) as usize)
}

/// Marks an entry's status as a signal's doing (`Status::signal`).
const SIGNALED: u32 = 1 << 8;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Its exit status (128 + the signal for one a signal ended).
    pub code: u8,
    /// The signal that ended it, if one did (or a fault, or its destruction,
    /// which Unix reports as SIGSEGV and SIGKILL).
    pub signal: Option<u8>,
}

/// Ends this process: closes its descriptors, leaves its status in the
/// process table for the parent, and exits.
pub fn exit(status: u8) -> ! {
    end(status as u32, true)
}

/// Ends this process as signal `sig`'s default action does: status 128 +
/// `sig`, and the parent learns it was the signal. The signal may have
/// interrupted the libOS anywhere (the heap or the file system half
/// changed), so nothing is written back: what the process wrote before
/// stays as far as it got, as when Unix kills a process.
pub fn exit_by_signal(sig: u8) -> ! {
    end(
        (128 + sig as u32) & 0xff | SIGNALED | (sig as u32) << 16,
        false,
    )
}

fn end(word: u32, sync: bool) -> ! {
    let status = word as u8;
    if has_pinfo() {
        fd::close_all();
        // Like stdio's buffers: what this process changed in the file
        // system reaches the disk when it exits.
        if sync {
            let _ = crate::files::sync();
        }
        if let Some(e) = entry(pid()) {
            e.status.store(word, Ordering::Relaxed);
            e.state.store(state::ZOMBIE, Ordering::Release);
        }
    }
    sys::exit(status)
}

/// Waits for child `pid` to end and returns its exit status (for a child
/// that ended without the libOS's exit: what the kernel recorded, e.g. 78
/// for an unhandled page fault).
pub fn wait(pid: u32) -> u8 {
    wait_status(pid).code
}

/// `wait`, saying also whether a signal ended the child.
pub fn wait_status(pid: u32) -> Status {
    let slot = take_cap_slot(pid).or_else(|| child_cap_slot(pid));
    if let Some(w) = unpark(pid) {
        if let Some(s) = slot {
            let _ = sys::cap_drop(s);
        }
        return status_of(w);
    }
    let Some(e) = entry(pid) else {
        // Not a process of ours: wait for the environment alone.
        let gone = kinfo::env_gone_terms(pid);
        while kinfo::env(pid).is_some() {
            let _ = sys::wakeup(&gone);
        }
        return killed(kinfo::exit_status(pid).unwrap_or(137));
    };
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
        status_of(e.status.load(Ordering::Relaxed))
    } else {
        // Ended without the libOS's exit (a fault, or destroyed): the kernel knows.
        killed(kinfo::exit_status(pid).unwrap_or(137))
    };
    // Wait for the environment itself to be gone, then reap.
    while kinfo::env(pid).is_some() {
        let _ = sys::wakeup(&gone);
    }
    // Reaped: our mapping was the entry's last; the kernel frees it.
    let _ = vm::unmap(entry_va(pid));
    if let Some(s) = slot {
        let _ = sys::cap_drop(s);
    }
    status
}

/// Our children not yet reaped (running or ended): those whose entries we
/// keep mapped, as their parent.
pub fn children() -> impl Iterator<Item = u32> {
    let me = pid();
    let in_slots = (0..exo_abi::env::NENV).filter_map(move |s| {
        let va = PROCTAB_VA + s as u64 * vm::PAGE_SIZE;
        vm::ppn_of(va)?;
        // SAFETY: a mapped entry page holds one ProcEntry of atomics.
        let e = unsafe { &*(va as *const ProcEntry) };
        let (p, pp) = (
            e.pid.load(Ordering::Relaxed),
            e.ppid.load(Ordering::Relaxed),
        );
        (pp == me && p != me && e.state.load(Ordering::Acquire) != state::FREE).then_some(p)
    });
    let parked = PARKED
        .iter()
        .map(|z| (z.load(Ordering::Relaxed) >> 32) as u32)
        .filter(|&p| p != 0);
    in_slots.chain(parked)
}

/// Children that ended and were not reaped before their environment slot
/// went to a new process: pid and status word (see `table::park_zombie`).
static PARKED: [core::sync::atomic::AtomicU64; exo_abi::env::NENV] =
    [const { core::sync::atomic::AtomicU64::new(0) }; exo_abi::env::NENV];

/// The status word of a process the kernel destroyed (as SIGKILL).
pub(crate) const KILLED_WORD: u32 = 137 | SIGNALED | 9 << 16;

pub(crate) fn park(pid: u32, word: u32) {
    if let Some(free) = PARKED.iter().find(|z| z.load(Ordering::Relaxed) == 0) {
        free.store((pid as u64) << 32 | word as u64, Ordering::Relaxed);
    }
}

fn unpark(pid: u32) -> Option<u32> {
    PARKED
        .iter()
        .find(|z| z.load(Ordering::Relaxed) >> 32 == pid as u64)
        .map(|z| z.swap(0, Ordering::Relaxed) as u32)
}

fn status_of(w: u32) -> Status {
    Status {
        code: w as u8,
        signal: (w & SIGNALED != 0).then_some((w >> 16) as u8),
    }
}

/// Whether child `pid` has ended (its status waits for `wait`).
pub fn has_ended(pid: u32) -> bool {
    PARKED
        .iter()
        .any(|z| z.load(Ordering::Relaxed) >> 32 == pid as u64)
        || entry(pid).is_none_or(|e| e.state.load(Ordering::Acquire) == state::ZOMBIE)
        || kinfo::env(pid).is_none()
}

/// Waits for any child to end (or only looks, if `!block`): its pid and
/// status, reaped; `None` if none has ended and `!block`; NoEnv if there
/// are no children.
pub fn wait_any(block: bool) -> Result<Option<(u32, Status)>, Error> {
    wait_any_unless(block, &|| false)
}

/// `wait_any`, giving up (`None`) when no child has ended and `stop` says
/// so (it is asked at least every tick).
pub fn wait_any_unless(
    block: bool,
    stop: &dyn Fn() -> bool,
) -> Result<Option<(u32, Status)>, Error> {
    use exo_abi::wakeup::{CMP_GE, MAX_TERMS};
    loop {
        let mut kids = [0u32; exo_abi::env::NENV];
        let mut n = 0;
        for c in children() {
            kids[n] = c;
            n += 1;
        }
        if n == 0 {
            return Err(Error::NoEnv);
        }
        if let Some(&done) = kids[..n].iter().find(|&&c| has_ended(c)) {
            return Ok(Some((done, wait_status(done))));
        }
        if !block || stop() {
            return Ok(None);
        }
        // Sleep until one of the first children's entries says it ended,
        // or a tick has passed (one that ends without the libOS's exit
        // shows only in the kernel's table).
        let mut terms = [WkTerm::NONE; MAX_TERMS];
        terms[0] = WkTerm::ticks(CMP_GE, sys::ticks() + 1);
        let mut t = 1;
        for &c in kids[..n].iter() {
            let Some(e) = entry(c) else { continue };
            if t + 2 > MAX_TERMS {
                break;
            }
            terms[t] = WkTerm::OR;
            terms[t + 1] =
                WkTerm::mem(&e.state as *const _ as u64, 4, CMP_EQ, state::ZOMBIE as u64);
            t += 2;
        }
        let _ = sys::wakeup(&terms[..t]);
    }
}

/// Puts the process of entry `e` (ours or a child's, mapped writable here)
/// in group `pgid`.
pub fn set_group(e: &ProcEntry, pgid: u32) -> Result<(), Error> {
    let pid = e.pid.load(Ordering::Relaxed);
    let va = entry_va(pid);
    if kinfo::pte(va) & exo_abi::layout::pte::WRITABLE == 0 {
        return Err(Error::Denied);
    }
    e.pgid.store(pgid, Ordering::Relaxed);
    Ok(())
}

/// Renames this process in the table (an exec).
pub fn rename(name: &str) {
    if let Some(e) = entry(pid()) {
        let (ppid, pgid) = (
            e.ppid.load(Ordering::Relaxed),
            e.pgid.load(Ordering::Relaxed),
        );
        e.enter(pid(), ppid, pgid, name);
    }
}

/// The status of a child that ended without the libOS's exit: destroyed
/// (137, as SIGKILL) or ended by the kernel for a fault (as SIGSEGV).
fn killed(code: u8) -> Status {
    use exo_abi::boot::exit::FAULT_BASE;
    let signal = match code {
        137 => Some(9),
        c if (FAULT_BASE..FAULT_BASE + 32).contains(&c) => Some(11),
        _ => None,
    };
    Status { code, signal }
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
