//! The exokernel's system calls from user space. Every call is a struct of
//! the table in `exo_abi::syscall` and goes through [`invoke`], which
//! encodes it into registers the way the kernel decodes it; the functions
//! below only build those structs from slices and references, so the
//! kernel's checks only ever refuse deliberately bad calls.

use exo_abi::cap::Cap;
use exo_abi::env::Entries;
use exo_abi::env::Resource;
use exo_abi::syscall::arg::{
    CapSlot, EnvId, Perm, Ppn, Ret, UserAddr, UserArray, UserBytes, UserRef,
};
use exo_abi::syscall::{args, SysCall};
pub use exo_abi::syscall::{Error, Sysnum};
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
    // SAFETY: `syscall` clobbers rcx and r11 only; the kernel preserves the
    // rest, and the caller vouches for what the pointers let it write.
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
    // SAFETY: forwarded to the caller.
    unsafe { syscall5(n, a, b, c, 0, 0).0 }
}

/// Issues a call of the table; returns its result and `rdx`.
pub fn invoke_raw<C: SysCall>(call: &C) -> (Result<C::Ret, Error>, u64) {
    let [a, b, c, d, e] = call.encode();
    // SAFETY: every pointer in a call struct comes from a live slice or
    // reference of the right size (the constructors in this module and
    // `exo_abi::syscall::arg` take them from borrows held across the call),
    // so the kernel writes only memory the caller lent it for this call.
    let (r, rdx) = unsafe { syscall5(C::NR as u64, a, b, c, d, e) };
    // Values with the top bit set (XN's capability values) are results too:
    // only the codes of `Error` mean failure.
    let result = match Error::from_result(r) {
        Some(e) if r < 0 => Err(e),
        _ => Ok(C::Ret::from_raw(r as u64)),
    };
    (result, rdx)
}

/// Issues a call of the table.
pub fn invoke<C: SysCall>(call: &C) -> Result<C::Ret, Error> {
    invoke_raw(call).0
}

fn slot(s: usize) -> CapSlot {
    CapSlot::of(s)
}

/// Writes some of `bytes` to the console; returns how many were written.
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    invoke(&args::ConsoleWrite {
        buf: UserBytes::of(bytes),
    })
}

/// Reads waiting console input into `buf`; returns how many bytes (0 if none).
pub fn console_read(buf: &mut [u8]) -> Result<usize, Error> {
    invoke(&args::ConsoleRead {
        buf: UserBytes::of_mut(buf),
    })
}

/// Timer interrupts since boot.
pub fn ticks() -> u64 {
    invoke(&args::Ticks {}).unwrap_or(0)
}

/// This environment's id, asked of the kernel every time: the null
/// system call the benchmarks time.
pub fn env_id_call() -> u32 {
    invoke(&args::GetEnvId {}).map_or(0, |e| e.0)
}

/// This environment's id, asked of the kernel once and then kept with the
/// page-table root it was asked under, in the page fork keeps private
/// (`vm::env_cache`): a forked or spawned child, which starts with a copy of
/// this memory, has a root of its own and asks again. Every page-table
/// call names its environment, so this is asked often (a busybox fork+exec
/// asked it 1,350 times).
pub fn env_id() -> u32 {
    use core::sync::atomic::Ordering::Relaxed;
    // Root frame number and id in one word, read and written whole.
    let frame = crate::info::page_table_root() >> 12;
    let cache = crate::vm::env_cache();
    let cached = cache.load(Relaxed);
    if frame != 0 && frame >> 32 == 0 && cached >> 32 == frame {
        return cached as u32;
    }
    let id = env_id_call();
    if id != 0 && frame >> 32 == 0 {
        cache.store(frame << 32 | id as u64, Relaxed);
    }
    id
}

/// Ends this environment with `status`.
pub fn exit(status: u8) -> ! {
    let _ = invoke(&args::Exit { status });
    unreachable!("exit returned")
}

pub fn p_alloc(ppn: u64, guard_slot: usize) -> Result<(), Error> {
    invoke(&args::PAlloc {
        ppn: Ppn::of(ppn),
        guard: slot(guard_slot),
    })
}

pub fn p_free(ppn: u64, cap: usize) -> Result<(), Error> {
    invoke(&args::PFree {
        ppn: Ppn::of(ppn),
        cap: slot(cap),
    })
}

pub fn p_grant(ppn: u64, cap: usize, env: u32) -> Result<(), Error> {
    invoke(&args::PGrant {
        ppn: Ppn::of(ppn),
        cap: slot(cap),
        to: EnvId(env),
    })
}

/// Applies page-table operations to `env`; on failure returns how many were
/// done and why the next one failed.
pub fn vm_batch(env: u32, cap: usize, ops: &[VmOp]) -> Result<(), (usize, Error)> {
    let (r, why) = invoke_raw(&args::VmBatch {
        env: EnvId(env),
        cap: slot(cap),
        ops: UserArray::of(ops),
    });
    match r {
        Err(err) => Err((0, err)),
        Ok(n) if n == ops.len() => Ok(()),
        Ok(n) => Err((
            n,
            Error::from_result(-(why as i64)).unwrap_or(Error::Invalid),
        )),
    }
}

pub fn cap_derive(src: usize, dst: usize, ext: &[u8], perm: u8) -> Result<(), Error> {
    invoke(&args::CapDerive {
        src: slot(src),
        dst: slot(dst),
        ext: UserBytes::of(ext),
        perm: Perm::of(perm),
    })
}

/// Gives `env` a copy of our capability `src`, with permissions `perm` at most.
pub fn cap_grant(src: usize, env: u32, env_slot: usize, dst: usize, perm: u8) -> Result<(), Error> {
    invoke(&args::CapGrant {
        src: slot(src),
        env: EnvId(env),
        env_cap: slot(env_slot),
        dst: slot(dst),
        perm: Perm::of(perm),
    })
}

pub fn cap_drop(s: usize) -> Result<(), Error> {
    invoke(&args::CapDrop { slot: slot(s) })
}

pub fn env_create(guard_slot: usize) -> Result<u32, Error> {
    invoke(&args::EnvCreate {
        guard: slot(guard_slot),
    })
    .map(|e| e.0)
}

/// Lets holders of our capability in slot `reader` map page `ppn`
/// read-only (`cap` controls the page).
pub fn p_share(ppn: u64, cap: usize, reader: usize) -> Result<(), Error> {
    invoke(&args::PShare {
        ppn: Ppn::of(ppn),
        cap: slot(cap),
        reader: slot(reader),
    })
}

/// Records a library-OS event in the trace (class `libos`).
pub fn trace_note(event: u16, a0: u64, a1: u64) -> Result<(), Error> {
    invoke(&args::TraceNote {
        event: event as u64,
        a0,
        a1,
    })
}

/// Sets this environment's FS and GS base registers.
pub fn set_bases(fs: u64, gs: u64) -> Result<(), Error> {
    invoke(&args::SetBases {
        fs: UserAddr::of(fs),
        gs: UserAddr::of(gs),
    })
}

/// Sets `env`'s limit of `resource` (see `exo_abi::env::Quota`).
pub fn quota_set(env: u32, cap: usize, resource: Resource, limit: u64) -> Result<(), Error> {
    invoke(&args::QuotaSet {
        env: EnvId(env),
        cap: slot(cap),
        resource,
        limit,
    })
}

pub fn env_set_entries(env: u32, cap: usize, e: &Entries) -> Result<(), Error> {
    invoke(&args::EnvSetEntries {
        env: EnvId(env),
        cap: slot(cap),
        entries: UserRef::of(e),
    })
}

pub fn env_set_context(env: u32, cap: usize, f: &UTrapFrame) -> Result<(), Error> {
    invoke(&args::EnvSetContext {
        env: EnvId(env),
        cap: slot(cap),
        frame: UserRef::of(f),
    })
}

pub fn env_run(env: u32, cap: usize) -> Result<(), Error> {
    invoke(&args::EnvRun {
        env: EnvId(env),
        cap: slot(cap),
    })
}

pub fn env_destroy(env: u32, cap: usize) -> Result<(), Error> {
    invoke(&args::EnvDestroy {
        env: EnvId(env),
        cap: slot(cap),
    })
}

pub fn slice_alloc(pos: usize, env: u32, cap: usize) -> Result<(), Error> {
    let pos = exo_abi::syscall::SlicePos::new(pos as u64).ok_or(Error::Invalid)?;
    invoke(&args::SliceAlloc {
        pos,
        env: EnvId(env),
        cap: slot(cap),
    })
}

pub fn slice_free(pos: usize, cap: usize) -> Result<(), Error> {
    let pos = exo_abi::syscall::SlicePos::new(pos as u64).ok_or(Error::Invalid)?;
    invoke(&args::SliceFree {
        pos,
        cap: slot(cap),
    })
}

/// Gives the rest of this slice to `env` (None: whoever is next in turn).
pub fn yield_to(env: Option<u32>) -> Result<(), Error> {
    invoke(&args::Yield { to: env.map(EnvId) })
}

pub fn donate(env: u32) -> Result<(), Error> {
    invoke(&args::Donate { to: EnvId(env) })
}

/// Sleeps until the predicate holds.
pub fn wakeup(terms: &[WkTerm]) -> Result<(), Error> {
    invoke(&args::Wakeup {
        terms: UserArray::of(terms),
    })
}

/// Asks `env` to give back `npages` pages within `ticks`.
pub fn revoke(env: u32, cap: usize, npages: u32, ticks: u64) -> Result<(), Error> {
    let npages = exo_abi::syscall::RevokePages::new(npages as u64).ok_or(Error::Invalid)?;
    invoke(&args::Revoke {
        env: EnvId(env),
        cap: slot(cap),
        npages,
        ticks,
    })
}

/// The capability in slot `i` of this environment's list, as the kernel shows it.
pub fn my_cap(i: usize) -> Cap {
    crate::info::env(env_id()).map_or(Cap::NONE, |e| e.caps.get(i).copied().unwrap_or(Cap::NONE))
}

/// Size of the disk in 512-byte sectors.
pub fn blk_info() -> Result<u64, Error> {
    invoke(&args::BlkInfo {})
}

/// Reads whole sectors (at most 4 KiB) at `sector` into `buf` (raw disk
/// access; needs the root capability in `cap`).
pub fn blk_read(sector: u64, buf: &mut [u8], cap: usize) -> Result<(), Error> {
    invoke(&args::BlkRead {
        sector,
        buf: UserBytes::of_mut(buf),
        cap: slot(cap),
    })
    .map(drop)
}

/// Writes whole sectors (at most 4 KiB) from `buf` at `sector`.
pub fn blk_write(sector: u64, buf: &[u8], cap: usize) -> Result<(), Error> {
    invoke(&args::BlkWrite {
        sector,
        buf: UserBytes::of(buf),
        cap: slot(cap),
    })
    .map(drop)
}

pub fn blk_flush(cap: usize) -> Result<(), Error> {
    invoke(&args::BlkFlush { cap: slot(cap) })
}

/// The network device's MAC address.
pub fn net_mac() -> Result<[u8; 6], Error> {
    invoke(&args::NetInfo {}).map(|m| {
        let b = m.to_le_bytes();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    })
}

/// Transmits one Ethernet frame: with the root capability in `cap`, any
/// frame; otherwise one our DPF transmit filter accepts.
pub fn net_send(frame: &[u8], cap: usize) -> Result<(), Error> {
    while_busy(|| {
        invoke(&args::NetSend {
            frame: UserBytes::of(frame),
            cap: slot(cap),
        })
    })
}

/// Runs a transmit call until the device has a free buffer for it (the
/// kernel says `Busy` rather than wait), yielding the CPU in between.
fn while_busy(mut call: impl FnMut() -> Result<(), Error>) -> Result<(), Error> {
    // Enough for the device to drain a full ring many times over.
    const TRIES: u32 = 100_000;
    for _ in 0..TRIES {
        match call() {
            Err(Error::Busy) => {
                let _ = yield_to(None);
            }
            r => return r,
        }
    }
    Err(Error::Busy)
}

/// Takes the oldest received frame into `buf` (raw receive: the root
/// capability); Ok(0) if none is waiting.
pub fn net_recv(buf: &mut [u8], cap: usize) -> Result<usize, Error> {
    invoke(&args::NetRecv {
        buf: UserBytes::of_mut(buf),
        cap: slot(cap),
    })
}

/// Installs a DPF filter (atoms in `exo dpf` syntax); returns its id.
pub fn dpf_insert(filter: &str) -> Result<u32, Error> {
    invoke(&args::DpfInsert {
        text: UserBytes::of(filter.as_bytes()),
    })
}

pub fn dpf_remove(id: u32) -> Result<(), Error> {
    invoke(&args::DpfRemove { id })
}

/// Classifies `frame` as a received packet `repeat` times in the kernel:
/// Some(id) of the caller's filter that claims it, None if none does
/// (Err(Taken): another environment's does).
pub fn dpf_classify(frame: &[u8], repeat: u64) -> Result<Option<u32>, Error> {
    let repeat = exo_abi::syscall::ClassifyRepeat::new(repeat).ok_or(Error::Invalid)?;
    let id: u32 = invoke(&args::DpfClassify {
        frame: UserBytes::of(frame),
        repeat,
    })?;
    Ok((id != u32::MAX).then_some(id))
}

/// Lets `env` (None: anyone) install filters overlapping filter `id`.
pub fn dpf_permit(id: u32, env: Option<u32>) -> Result<(), Error> {
    invoke(&args::DpfPermit {
        id,
        to: env.map(EnvId),
    })
}

/// Registers the packet ring at `va` (`npages` pages, 0 to drop it).
pub fn net_ring(va: u64, npages: u64) -> Result<(), Error> {
    invoke(&args::NetRing { va, npages })
}

/// Has the kernel demultiplex waiting packets now; returns how many.
pub fn net_poll() -> Result<u64, Error> {
    invoke(&args::NetPoll {})
}

/// Frames this environment sends must match `filter`: set once, for the
/// environment's life (the kernel refuses to remove or replace it).
pub fn dpf_tx_filter(filter: &str) -> Result<(), Error> {
    invoke(&args::DpfTxFilter {
        text: UserBytes::of(filter.as_bytes()),
    })
}

/// Transmits a frame of `head` followed by `data`, which the device reads
/// straight from our pages (zero copy).
pub fn net_send_gather(head: &[u8], data: &[u8], cap: usize) -> Result<(), Error> {
    while_busy(|| {
        invoke(&args::NetSendGather {
            head: UserBytes::of(head),
            data: UserBytes::of(data),
            cap: slot(cap),
        })
    })
}
