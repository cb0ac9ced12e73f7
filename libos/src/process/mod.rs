//! Processes: a process is an environment plus this libOS's bookkeeping: a
//! private information page (pid, arguments, first descriptors) and an
//! entry in the process table that every process shares and `ps` reads.
//! Programs are loaded from the initrd into a new environment (spawn); fork
//! copies the caller with copy-on-write (see `fork`).

mod info;
mod table;

pub(crate) use info::has_pinfo;
pub use info::{pinfo, PInfo, ARGS_LEN};
pub use table::{entry, state, table, Name, ProcEntry};

use crate::fd::{self, kind, Fd, MAX_FDS};
use crate::layout::*;
use crate::sys::{self, Error};
use crate::vm::{self, map_op, unmap_op, PAGE_SIZE};
use crate::{info as kinfo, initrd};
use core::sync::atomic::Ordering;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use exo_abi::cap::PERM_ALL;
use exo_abi::layout::{USER_STACK_TOP, USER_TOP};
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::VmOp;
use exo_abi::wakeup::{WkTerm, CMP_EQ};

const STACK_PAGES: u64 = 16;

pub fn pid() -> u32 {
    pinfo().pid
}

/// Arguments of this process.
pub fn args() -> impl Iterator<Item = &'static str> {
    pinfo().args()
}

/// Enters a child in the process table (fork: same name as the parent).
pub(crate) fn register_child(pid: u32, ppid: u32, name: &str) {
    entry(pid).enter(pid, ppid, name);
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
    fill_page(info_page, SLOT_SELF, |p| info.write_to(p))?;
    vm::apply(&[
        map_op(PROCTAB_VA, tab, true, false, SLOT_SHARED),
        map_op(PINFO_VA, info_page, false, false, SLOT_SELF),
    ])
    .map_err(|e| e.1)?;
    entry(me).enter(me, 0, name);
    Ok(())
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

/// A free capability slot for a new child.
fn child_slot() -> Result<usize, Error> {
    let me = kinfo::env(sys::env_id()).ok_or(Error::NoEnv)?;
    (SLOT_CHILDREN..me.caps.len())
        .find(|&s| !me.caps[s].is_valid())
        .ok_or(Error::NoMem)
}

/// A free time slice position.
fn free_slice() -> Option<usize> {
    kinfo::sysinfo().slices.iter().position(|&o| o == 0)
}

/// Fills `ppn` (guarded by `slot`) through the scratch mapping.
fn fill_page(ppn: u64, slot: usize, f: impl FnOnce(&mut [u8])) -> Result<(), Error> {
    vm::apply(&[map_op(SCRATCH, ppn, true, false, slot)]).map_err(|e| e.1)?;
    // SAFETY: SCRATCH maps exactly this page, writable, until unmapped below.
    f(unsafe { core::slice::from_raw_parts_mut(SCRATCH as *mut u8, PAGE_SIZE as usize) });
    vm::apply(&[unmap_op(SCRATCH)]).map_err(|e| e.1)
}

/// Collects child page-table operations and sends them in batches.
struct Batch {
    env: u32,
    slot: usize,
    ops: [VmOp; 64],
    n: usize,
}

impl Batch {
    fn push(&mut self, op: VmOp) -> Result<(), Error> {
        self.ops[self.n] = op;
        self.n += 1;
        if self.n == self.ops.len() {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.n > 0 {
            sys::vm_batch(self.env, self.slot, &self.ops[..self.n]).map_err(|e| e.1)?;
            self.n = 0;
        }
        Ok(())
    }
}

/// Starts program `path` from the initrd with arguments `argv` (argv[0] is
/// its name) and file descriptors `fds`; returns its pid.
pub fn spawn(path: &str, argv: &[&str], fds: &[Fd; MAX_FDS]) -> Result<u32, Error> {
    let image = initrd::open(path).ok_or(Error::NoEnv)?;
    let elf = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| Error::Invalid)?;
    let segments = elf.segments().ok_or(Error::Invalid)?;
    let slot = child_slot()?;
    let ext = [b'a' + (slot as u8), (pid() & 0xff) as u8];
    sys::cap_derive(SLOT_SELF, slot, &ext, PERM_ALL)?;
    let child = sys::env_create(slot)?;
    let mut batch = Batch {
        env: child,
        slot,
        ops: [VmOp::default(); 64],
        n: 0,
    };
    let result = (|| -> Result<(), Error> {
        for ph in segments
            .iter()
            .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
        {
            let (va, filesz) = (ph.p_vaddr, ph.p_filesz);
            let end = va
                .checked_add(ph.p_memsz)
                .filter(|&e| e <= USER_TOP)
                .ok_or(Error::Invalid)?;
            let data = image
                .get(ph.p_offset as usize..(ph.p_offset + filesz) as usize)
                .ok_or(Error::Invalid)?;
            let mut page = va & !(PAGE_SIZE - 1);
            while page < end {
                let ppn = vm::alloc_page(slot)?;
                fill_page(ppn, slot, |buf| {
                    buf.fill(0);
                    let lo = page.max(va);
                    let hi = (page + PAGE_SIZE).min(va + filesz);
                    if lo < hi {
                        buf[(lo - page) as usize..(hi - page) as usize]
                            .copy_from_slice(&data[(lo - va) as usize..(hi - va) as usize]);
                    }
                })?;
                batch.push(map_op(
                    page,
                    ppn,
                    ph.p_flags & PF_W != 0,
                    ph.p_flags & PF_X != 0,
                    slot,
                ))?;
                page += PAGE_SIZE;
            }
        }
        for i in 1..=STACK_PAGES {
            let ppn = vm::alloc_page(slot)?;
            fill_page(ppn, slot, |b| b.fill(0))?;
            batch.push(map_op(
                USER_STACK_TOP - i * PAGE_SIZE,
                ppn,
                true,
                false,
                slot,
            ))?;
        }
        // Open files are per process (the table is ours, not shared).
        let mut child_fds = *fds;
        for f in child_fds.iter_mut().filter(|f| f.kind == kind::FS_FILE) {
            *f = Fd::CLOSED;
        }
        let info = PInfo::new(child, pid(), argv.iter().map(|a| a.as_bytes()), &child_fds);
        let info_ppn = vm::alloc_page(slot)?;
        fill_page(info_ppn, slot, |b| info.write_to(b))?;
        batch.push(map_op(PINFO_VA, info_ppn, false, false, slot))?;
        let tab = vm::ppn_of(PROCTAB_VA).ok_or(Error::Invalid)?;
        batch.push(map_op(PROCTAB_VA, tab, true, false, SLOT_SHARED))?;
        for fd in fds.iter() {
            if let Some(va) = fd.pipe_va() {
                let ppn = vm::ppn_of(va).ok_or(Error::Invalid)?;
                batch.push(map_op(va, ppn, true, false, SLOT_SHARED))?;
            }
        }
        batch.flush()?;
        sys::cap_grant(slot, child, slot, SLOT_SELF, PERM_ALL)?;
        sys::cap_grant(SLOT_SHARED, child, slot, SLOT_SHARED, PERM_ALL)?;
        let ctx = UTrapFrame {
            rip: elf.ehdr.e_entry,
            rsp: USER_STACK_TOP,
            ..UTrapFrame::default()
        };
        sys::env_set_context(child, slot, &ctx)?;
        let name = path.rsplit('/').next().unwrap_or(path);
        entry(child).enter(child, pid(), name);
        fd::share(fds);
        let pos = free_slice().ok_or(Error::NoMem)?;
        sys::slice_alloc(pos, child, slot)?;
        sys::env_run(child, slot)
    })();
    if let Err(e) = result {
        let _ = sys::env_destroy(child, slot);
        let _ = sys::cap_drop(slot);
        entry(child).state.store(state::FREE, Ordering::Release);
        return Err(e);
    }
    Ok(child)
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
