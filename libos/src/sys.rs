//! Raw exokernel system calls (ABI in `exo_abi::syscall`), one safe wrapper
//! per call. Pointer arguments are slices or references, so the kernel's
//! checks only ever refuse deliberately bad calls.

use exo_abi::cap::Cap;
use exo_abi::env::Entries;
use exo_abi::syscall as nr;
pub use exo_abi::syscall::Error;
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::VmOp;
use exo_abi::wakeup::WkTerm;

/// Issues system call `n` with up to five arguments; returns `rax` and `rdx`.
///
/// # Safety
/// Pointer arguments must be valid for the call's purpose; the kernel checks
/// them against the page tables, but a write through a valid pointer still
/// changes this program's memory.
#[inline]
pub unsafe fn syscall5(n: u64, a: u64, b: u64, c: u64, d: u64, e: u64) -> (i64, u64) {
    let r: i64;
    let r2: u64;
    // SAFETY: `syscall` clobbers rcx and r11 only; the kernel preserves the rest.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as i64 => r,
            in("rdi") a, in("rsi") b, inlateout("rdx") c => r2, in("r10") d, in("r8") e,
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    (r, r2)
}

/// Issues system call `n` with up to three arguments.
///
/// # Safety
/// As for [`syscall5`].
#[inline]
pub unsafe fn syscall3(n: u64, a: u64, b: u64, c: u64) -> i64 {
    // SAFETY: forwarded.
    unsafe { syscall5(n, a, b, c, 0, 0).0 }
}

fn result(r: i64) -> Result<u64, Error> {
    if r >= 0 {
        Ok(r as u64)
    } else {
        Err(Error::from_result(r).unwrap_or(Error::Invalid))
    }
}

fn call(n: u64, a: u64, b: u64, c: u64, d: u64, e: u64) -> Result<u64, Error> {
    // SAFETY: only used by wrappers whose arguments carry no pointers or
    // carry pointers derived from live references of the right size.
    result(unsafe { syscall5(n, a, b, c, d, e).0 })
}

/// Writes some of `bytes` to the console; returns how many were written.
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    call(
        nr::CONSOLE_WRITE,
        bytes.as_ptr() as u64,
        bytes.len() as u64,
        0,
        0,
        0,
    )
    .map(|n| n as usize)
}

/// Reads waiting console input into `buf`; returns how many bytes (0 if none).
pub fn console_read(buf: &mut [u8]) -> Result<usize, Error> {
    call(
        nr::CONSOLE_READ,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        0,
        0,
        0,
    )
    .map(|n| n as usize)
}

/// Timer interrupts since boot.
pub fn ticks() -> u64 {
    call(nr::TICKS, 0, 0, 0, 0, 0).unwrap_or(0)
}

/// This environment's id.
pub fn env_id() -> u32 {
    call(nr::ENV_ID, 0, 0, 0, 0, 0).unwrap_or(0) as u32
}

/// Ends this environment with `status`.
pub fn exit(status: u8) -> ! {
    let _ = call(nr::EXIT, status as u64, 0, 0, 0, 0);
    unreachable!("exit returned")
}

pub fn p_alloc(ppn: u64, guard_slot: usize) -> Result<(), Error> {
    call(nr::P_ALLOC, ppn, guard_slot as u64, 0, 0, 0).map(drop)
}

pub fn p_free(ppn: u64, slot: usize) -> Result<(), Error> {
    call(nr::P_FREE, ppn, slot as u64, 0, 0, 0).map(drop)
}

pub fn p_grant(ppn: u64, slot: usize, env: u32) -> Result<(), Error> {
    call(nr::P_GRANT, ppn, slot as u64, env as u64, 0, 0).map(drop)
}

/// Applies page-table operations to `env`; on failure returns how many were
/// done and why the next one failed.
pub fn vm_batch(env: u32, slot: usize, ops: &[VmOp]) -> Result<(), (usize, Error)> {
    // SAFETY: the kernel reads `ops.len()` operations from the slice.
    let (r, e) = unsafe {
        syscall5(
            nr::VM_BATCH,
            env as u64,
            slot as u64,
            ops.as_ptr() as u64,
            ops.len() as u64,
            0,
        )
    };
    match result(r) {
        Err(err) => Err((0, err)),
        Ok(n) if n as usize == ops.len() => Ok(()),
        Ok(n) => Err((
            n as usize,
            Error::from_result(-(e as i64)).unwrap_or(Error::Invalid),
        )),
    }
}

pub fn cap_derive(src: usize, dst: usize, ext: &[u8], perm: u8) -> Result<(), Error> {
    call(
        nr::CAP_DERIVE,
        src as u64,
        dst as u64,
        ext.as_ptr() as u64,
        ext.len() as u64,
        perm as u64,
    )
    .map(drop)
}

/// Gives `env` a copy of our capability `src`, with permissions `perm` at most.
pub fn cap_grant(src: usize, env: u32, env_slot: usize, dst: usize, perm: u8) -> Result<(), Error> {
    call(
        nr::CAP_GRANT,
        src as u64,
        env as u64,
        env_slot as u64,
        dst as u64,
        perm as u64,
    )
    .map(drop)
}

pub fn cap_drop(slot: usize) -> Result<(), Error> {
    call(nr::CAP_DROP, slot as u64, 0, 0, 0, 0).map(drop)
}

pub fn env_create(guard_slot: usize) -> Result<u32, Error> {
    call(nr::ENV_CREATE, guard_slot as u64, 0, 0, 0, 0).map(|id| id as u32)
}

pub fn env_set_entries(env: u32, slot: usize, e: &Entries) -> Result<(), Error> {
    call(
        nr::ENV_SET_ENTRIES,
        env as u64,
        slot as u64,
        e as *const _ as u64,
        0,
        0,
    )
    .map(drop)
}

pub fn env_set_context(env: u32, slot: usize, f: &UTrapFrame) -> Result<(), Error> {
    call(
        nr::ENV_SET_CONTEXT,
        env as u64,
        slot as u64,
        f as *const _ as u64,
        0,
        0,
    )
    .map(drop)
}

pub fn env_run(env: u32, slot: usize) -> Result<(), Error> {
    call(nr::ENV_RUN, env as u64, slot as u64, 0, 0, 0).map(drop)
}

pub fn env_destroy(env: u32, slot: usize) -> Result<(), Error> {
    call(nr::ENV_DESTROY, env as u64, slot as u64, 0, 0, 0).map(drop)
}

pub fn slice_alloc(pos: usize, env: u32, slot: usize) -> Result<(), Error> {
    call(nr::SLICE_ALLOC, pos as u64, env as u64, slot as u64, 0, 0).map(drop)
}

pub fn slice_free(pos: usize, slot: usize) -> Result<(), Error> {
    call(nr::SLICE_FREE, pos as u64, slot as u64, 0, 0, 0).map(drop)
}

/// Gives the rest of this slice to `env` (None: whoever is next in turn).
pub fn yield_to(env: Option<u32>) -> Result<(), Error> {
    call(nr::YIELD, env.map_or(u64::MAX, |e| e as u64), 0, 0, 0, 0).map(drop)
}

pub fn donate(env: u32) -> Result<(), Error> {
    call(nr::DONATE, env as u64, 0, 0, 0, 0).map(drop)
}

/// Sleeps until the predicate holds.
pub fn wakeup(terms: &[WkTerm]) -> Result<(), Error> {
    call(
        nr::WAKEUP,
        terms.as_ptr() as u64,
        terms.len() as u64,
        0,
        0,
        0,
    )
    .map(drop)
}

/// Asks `env` to give back `npages` pages within `ticks`.
pub fn revoke(env: u32, slot: usize, npages: u32, ticks: u64) -> Result<(), Error> {
    call(nr::REVOKE, env as u64, slot as u64, npages as u64, ticks, 0).map(drop)
}

/// The capability in slot `i` of this environment's list, as the kernel shows it.
pub fn my_cap(i: usize) -> Cap {
    crate::info::env(env_id()).map_or(Cap::NONE, |e| e.caps.get(i).copied().unwrap_or(Cap::NONE))
}

/// Size of the disk in 512-byte sectors.
pub fn blk_info() -> Result<u64, Error> {
    call(nr::BLK_INFO, 0, 0, 0, 0, 0)
}

/// Reads whole sectors (at most 4 KiB) at `sector` into `buf` (raw disk
/// access; needs the root capability in `slot`).
pub fn blk_read(sector: u64, buf: &mut [u8], slot: usize) -> Result<(), Error> {
    call(
        nr::BLK_READ,
        sector,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        slot as u64,
        0,
    )
    .map(drop)
}

/// Writes whole sectors (at most 4 KiB) from `buf` at `sector`.
pub fn blk_write(sector: u64, buf: &[u8], slot: usize) -> Result<(), Error> {
    call(
        nr::BLK_WRITE,
        sector,
        buf.as_ptr() as u64,
        buf.len() as u64,
        slot as u64,
        0,
    )
    .map(drop)
}

pub fn blk_flush(slot: usize) -> Result<(), Error> {
    call(nr::BLK_FLUSH, slot as u64, 0, 0, 0, 0).map(drop)
}

/// The network device's MAC address.
pub fn net_mac() -> Result<[u8; 6], Error> {
    call(nr::NET_INFO, 0, 0, 0, 0, 0).map(|m| {
        let b = m.to_le_bytes();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    })
}

/// Transmits one Ethernet frame (raw network access; needs the root
/// capability in `slot` until DPF).
pub fn net_send(frame: &[u8], slot: usize) -> Result<(), Error> {
    call(
        nr::NET_SEND,
        frame.as_ptr() as u64,
        frame.len() as u64,
        slot as u64,
        0,
        0,
    )
    .map(drop)
}

/// Takes the oldest received frame into `buf`; Ok(0) if none is waiting.
pub fn net_recv(buf: &mut [u8], slot: usize) -> Result<usize, Error> {
    call(
        nr::NET_RECV,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        slot as u64,
        0,
        0,
    )
    .map(|n| n as usize)
}

/// Installs a DPF filter (atoms in `exo dpf` syntax); returns its id.
pub fn dpf_insert(filter: &str) -> Result<u32, Error> {
    call(
        exo_abi::dpf::DPF_INSERT,
        filter.as_ptr() as u64,
        filter.len() as u64,
        0,
        0,
        0,
    )
    .map(|id| id as u32)
}

pub fn dpf_remove(id: u32) -> Result<(), Error> {
    call(exo_abi::dpf::DPF_REMOVE, id as u64, 0, 0, 0, 0).map(drop)
}

/// Lets `env` (None: anyone) install filters overlapping filter `id`.
pub fn dpf_permit(id: u32, env: Option<u32>) -> Result<(), Error> {
    call(
        exo_abi::dpf::DPF_PERMIT,
        id as u64,
        env.unwrap_or(0) as u64,
        0,
        0,
        0,
    )
    .map(drop)
}

/// Registers the packet ring at `va` (`npages` pages, 0 to drop it).
pub fn net_ring(va: u64, npages: u64) -> Result<(), Error> {
    call(exo_abi::dpf::NET_RING, va, npages, 0, 0, 0).map(drop)
}

/// Has the kernel demultiplex waiting packets now; returns how many.
pub fn net_poll() -> Result<u64, Error> {
    call(exo_abi::dpf::NET_POLL, 0, 0, 0, 0, 0)
}

/// Frames this environment sends must match `filter` ("" removes it).
pub fn dpf_tx_filter(filter: &str) -> Result<(), Error> {
    call(
        exo_abi::dpf::DPF_TX_FILTER,
        filter.as_ptr() as u64,
        filter.len() as u64,
        0,
        0,
        0,
    )
    .map(drop)
}

/// Transmits a frame of `head` followed by `data`, which the device reads
/// straight from our pages (zero copy).
pub fn net_send_gather(head: &[u8], data: &[u8], slot: usize) -> Result<(), Error> {
    call(
        nr::NET_SEND_GATHER,
        head.as_ptr() as u64,
        head.len() as u64,
        data.as_ptr() as u64,
        data.len() as u64,
        slot as u64,
    )
    .map(drop)
}
