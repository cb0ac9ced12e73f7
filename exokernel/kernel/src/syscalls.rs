//! System-call dispatch. Arguments come from the trap frame per the ABI in
//! `exo_abi::syscall`; every pointer is checked against the caller's page
//! tables and every guarded resource against the capability the caller names.

use crate::arch::trap_frame::TrapFrame;
use crate::env::{now, Kernel, Message, KERNEL};
use crate::mem::frames::PAGES;
use crate::mem::paging::Prot;
use crate::mem::{user, PAGE_SIZE};
use crate::{console, traps};
use core::sync::atomic::Ordering;
use exo_abi::cap::{CAP_NAME_LEN, NCAPS, PERM_GRANT, PERM_WRITE};
use exo_abi::env::{status, Entries, MAX_TAKEN, NSLICES};
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::{self as nr, pct, Error};
use exo_abi::trap::{UTrapFrame, UPCALL_PCT};
use exo_abi::vm::{
    VmOp, MAP_EXEC, MAP_SOFT_MASK, MAP_WRITE, MAX_BATCH, OP_MAP, OP_PROTECT, OP_UNMAP,
};
use exo_abi::wakeup::{WkTerm, MAX_TERMS};

/// Most bytes one console call moves; callers loop on the returned count.
const CONSOLE_CHUNK: usize = 4096;

/// What a system call did besides computing its result.
enum Outcome {
    /// Return the value to the caller.
    Value(u64),
    /// The running environment changed; `f` already holds the next one's
    /// state (with the caller's result saved in its context).
    Switched,
}

type R = Result<Outcome, Error>;

fn val(v: u64) -> R {
    Ok(Outcome::Value(v))
}

fn err_code(e: Error) -> u64 {
    (-(e as i64)) as u64
}

#[no_mangle]
extern "C" fn syscall_dispatch(f: &mut TrapFrame) -> bool {
    let mut k = KERNEL.lock();
    let (nr_called, slot) = (f.rax, k.current);
    let r = dispatch(&mut k, f);
    let shown = match &r {
        Ok(Outcome::Value(v)) => *v,
        Ok(Outcome::Switched) => 0,
        Err(e) => err_code(*e),
    };
    crate::trace::emit(
        exo_abi::trace::class::SYSCALL,
        exo_abi::trace::event::SYSCALL,
        slot,
        nr_called,
        shown,
    );
    match r {
        Ok(Outcome::Value(v)) => f.rax = v,
        Err(e) => f.rax = err_code(e),
        Ok(Outcome::Switched) => return false,
    }
    // `sysret` only to a canonical user address (a non-canonical RCX would
    // fault in ring 0 on some CPUs); anything else returns through `iretq`.
    f.rip < USER_TOP
}

fn dispatch(k: &mut Kernel, f: &mut TrapFrame) -> R {
    let (a0, a1, a2, a3, a4) = (f.rdi, f.rsi, f.rdx, f.r10, f.r8);
    match f.rax {
        nr::CONSOLE_WRITE => console_write(a0, a1),
        nr::CONSOLE_READ => console_read(a0, a1),
        nr::TICKS => val(traps::TICKS.load(Ordering::Relaxed)),
        nr::ENV_ID => val(k.current_id() as u64),
        nr::EXIT => {
            k.destroy(k.current, a0 as u8);
            k.schedule(f);
            Ok(Outcome::Switched)
        }
        nr::P_ALLOC => p_alloc(k, a0, a1),
        nr::P_FREE => p_free(k, a0, a1),
        nr::P_GRANT => p_grant(k, a0, a1, a2),
        nr::VM_BATCH => vm_batch(k, f, a0, a1, a2, a3),
        nr::CAP_DERIVE => cap_derive(k, a0, a1, a2, a3, a4),
        nr::CAP_GRANT => cap_grant(k, a0, a1, a2, a3, a4),
        nr::CAP_DROP => {
            let c = k
                .info(k.current)
                .caps
                .get_mut(a0 as usize)
                .ok_or(Error::Invalid)?;
            *c = exo_abi::cap::Cap::NONE;
            val(0)
        }
        nr::ENV_CREATE => env_create(k, a0),
        nr::ENV_SET_ENTRIES => env_set_entries(k, a0, a1, a2),
        nr::ENV_SET_CONTEXT => env_set_context(k, a0, a1, a2),
        nr::ENV_RUN => {
            let slot = k.control(a0 as u32, a1)?;
            let info = k.info(slot);
            if info.status == status::NOT_RUNNABLE {
                info.status = status::RUNNABLE;
            }
            val(0)
        }
        nr::ENV_DESTROY => {
            let slot = k.control(a0 as u32, a1)?;
            let was_current = slot == k.current;
            if !was_current {
                k.save_current(f);
            }
            k.destroy(slot, exo_abi::boot::exit::DESTROYED);
            if was_current {
                k.schedule(f);
                return Ok(Outcome::Switched);
            }
            val(0)
        }
        nr::SLICE_ALLOC => {
            let slot = k.control(a1 as u32, a2)?;
            if a0 as usize >= NSLICES {
                return Err(Error::Invalid);
            }
            k.slices.alloc(a0 as usize, k.info(slot).id)?;
            k.publish_slices();
            val(0)
        }
        nr::SLICE_FREE => {
            let owner = k.slices.owner(a0 as usize).ok_or(Error::Invalid)?;
            k.control(owner, a1)?;
            k.slices.free(a0 as usize)?;
            k.publish_slices();
            val(0)
        }
        nr::YIELD => yield_call(k, f, a0),
        nr::DONATE => {
            let target = k.slot_of(a0 as u32)?;
            if k.slices.current_owner() != k.current_id() {
                return Err(Error::Denied); // only the slice's owner gives it away
            }
            k.slices.donate_current(k.info(target).id);
            k.publish_slices();
            yield_call(k, f, a0)
        }
        nr::PCT => pct_call(k, f, a0, a1),
        nr::WAKEUP => wakeup(k, f, a0, a1),
        nr::REVOKE => {
            let slot = k.control(a0 as u32, a1)?;
            if a2 == 0 || a2 > MAX_TAKEN as u64 {
                return Err(Error::Invalid);
            }
            let r = &mut k.info(slot).revocation;
            *r = Default::default();
            r.requested = a2 as u32;
            r.deadline = now().saturating_add(a3);
            k.envs[slot].revoke_pending = k.info(slot).entries.revoke != 0;
            val(0)
        }
        nr::BLK_INFO => match crate::drivers::virtio_blk::BLK.lock().as_ref() {
            Some(b) => val(b.capacity),
            None => Err(Error::NoEnv),
        },
        nr::BLK_READ | nr::BLK_WRITE => blk_io(k, f.rax == nr::BLK_WRITE, a0, a1, a2, a3),
        nr::BLK_FLUSH => {
            device_cap(k, a0, PERM_WRITE)?;
            if crate::xn::attached() {
                return Err(Error::Busy);
            }
            let mut blk = crate::drivers::virtio_blk::BLK.lock();
            blk.as_mut()
                .ok_or(Error::NoEnv)?
                .flush()
                .map_err(|_| Error::Io)?;
            val(0)
        }
        nr::NET_INFO => match crate::drivers::virtio_net::NET.lock().as_ref() {
            Some(n) => {
                let mut b = [0u8; 8];
                b[..6].copy_from_slice(&n.mac);
                val(u64::from_le_bytes(b))
            }
            None => Err(Error::NoEnv),
        },
        nr::NET_SEND => net_send(k, a0, a1, a2),
        nr::NET_SEND_GATHER => net_send_gather(k, a0, a1, a2, a3, a4),
        nr::NET_RECV => net_recv(k, a0, a1, a2),
        exo_abi::dpf::DPF_INSERT => val(crate::dpf::insert(k, a0, a1)?),
        exo_abi::dpf::DPF_REMOVE => val(crate::dpf::remove(k, a0)?),
        exo_abi::dpf::DPF_PERMIT => val(crate::dpf::permit(k, a0, a1)?),
        exo_abi::dpf::NET_RING => val(crate::dpf::set_ring(k, a0, a1)?),
        exo_abi::dpf::NET_POLL => val(crate::dpf::poll(k)),
        exo_abi::dpf::DPF_TX_FILTER => val(crate::dpf::set_tx_filter(k, a0, a1)?),
        nr::XN => match crate::xn::calls::call(k, a0, a1) {
            Ok(v) => val(v),
            Err(crate::xn::calls::CallError::Abi(e)) => Err(e),
            Err(crate::xn::calls::CallError::Xn(e)) => {
                f.rdx = e.code() as u64;
                Err(Error::Xn)
            }
        },
        _ => Err(Error::NoSys),
    }
}

fn net_send(k: &mut Kernel, ptr: u64, len: u64, slot: u64) -> R {
    use crate::drivers::virtio_net::{NetError, MAX_FRAME, NET};
    if !(14..=MAX_FRAME as u64).contains(&len) {
        return Err(Error::Invalid);
    }
    let mut buf = [0u8; MAX_FRAME];
    let buf = &mut buf[..len as usize];
    user::copy_in(ptr, buf).map_err(|_| Error::Fault)?;
    // The device's capability sends anything; a DPF participant sends what
    // its transmit filter allows.
    if device_cap(k, slot, PERM_WRITE).is_err() && !crate::dpf::may_send(k, buf) {
        return Err(Error::Denied);
    }
    let mut guard = NET.lock();
    let net = guard.as_mut().ok_or(Error::NoEnv)?;
    net.send(buf).map_err(|e| match e {
        NetError::Size => Error::Invalid,
        NetError::Timeout => Error::Io,
    })?;
    val(0)
}

/// A frame whose payload the device reads from the caller's own pages.
fn net_send_gather(k: &mut Kernel, head: u64, hlen: u64, data: u64, dlen: u64, slot: u64) -> R {
    use crate::drivers::virtio_net::{NetError, MAX_FRAME, NET};
    const MAX_HEAD: usize = 128;
    if !(14..=MAX_HEAD as u64).contains(&hlen) || hlen + dlen > MAX_FRAME as u64 {
        return Err(Error::Invalid);
    }
    let mut hbuf = [0u8; MAX_HEAD];
    let hbuf = &mut hbuf[..hlen as usize];
    user::copy_in(head, hbuf).map_err(|_| Error::Fault)?;
    if device_cap(k, slot, PERM_WRITE).is_err() {
        // The transmit filter sees the whole frame, as for NET_SEND.
        let mut whole = [0u8; MAX_FRAME];
        whole[..hbuf.len()].copy_from_slice(hbuf);
        let end = hbuf.len() + dlen as usize;
        user::copy_in(data, &mut whole[hbuf.len()..end]).map_err(|_| Error::Fault)?;
        if !crate::dpf::may_send(k, &whole[..end]) {
            return Err(Error::Denied);
        }
    }
    // The payload's physical pieces, each checked readable by the caller.
    let pml4 = k.envs[k.current].space.as_ref().ok_or(Error::NoEnv)?.pml4;
    let mut frags = [(0u64, 0u32); 2];
    let mut n = 0;
    let mut va = data;
    let end = data.checked_add(dlen).ok_or(Error::Fault)?;
    while va < end {
        let take = (PAGE_SIZE - va % PAGE_SIZE).min(end - va);
        let pa = crate::mem::paging::translate_in(pml4, va, false).ok_or(Error::Fault)?;
        if n == frags.len() {
            return Err(Error::Invalid);
        }
        frags[n] = (pa, take as u32);
        n += 1;
        va += take;
    }
    // Pinned until the device has read them: the caller may unmap or free
    // them after we return, but they stay out of anyone else's hands.
    let mut pins = [u64::MAX; 2];
    for (i, f) in frags[..n].iter().enumerate() {
        if !crate::mem::frames::pin(f.0 / PAGE_SIZE) {
            pins[..i].iter().for_each(|p| crate::mem::frames::unpin(*p));
            return Err(Error::Fault);
        }
        pins[i] = f.0 / PAGE_SIZE;
    }
    let mut guard = NET.lock();
    let r = match guard.as_mut() {
        Some(net) => net
            .send_gather(hbuf, &frags[..n], pins)
            .map_err(|e| match e {
                NetError::Size => Error::Invalid,
                NetError::Timeout => Error::Io,
            }),
        None => Err(Error::NoEnv),
    };
    if r.is_err() {
        pins[..n].iter().for_each(|p| crate::mem::frames::unpin(*p));
    }
    r?;
    val(0)
}

fn net_recv(k: &mut Kernel, ptr: u64, len: u64, slot: u64) -> R {
    use crate::drivers::virtio_net::NET;
    device_cap(k, slot, exo_abi::cap::PERM_READ)?;
    let mut guard = NET.lock();
    let net = guard.as_mut().ok_or(Error::NoEnv)?;
    let taken = net.recv(|frame| {
        if (frame.len() as u64) > len {
            return Err(Error::Invalid);
        }
        // A bad pointer leaves the frame queued.
        user::copy_out(ptr, frame).map_err(|_| Error::Fault)?;
        Ok(frame.len() as u64)
    });
    match taken {
        None => val(0),
        Some(r) => val(r?),
    }
}

/// Raw device access (disk, network) needs a capability dominating the
/// device's guard (the root name) with `need`; XN and DPF will replace this
/// with per-block bindings and per-environment filters.
fn device_cap(k: &Kernel, slot: u64, need: u8) -> Result<(), Error> {
    let cap = k.cap(k.current, slot)?;
    if cap.allows(&exo_abi::cap::Cap::ROOT, need) {
        Ok(())
    } else {
        Err(Error::Denied)
    }
}

fn blk_io(k: &mut Kernel, write: bool, sector: u64, ptr: u64, len: u64, slot: u64) -> R {
    use crate::drivers::virtio_blk::{BlkError, BLK};
    device_cap(
        k,
        slot,
        if write {
            PERM_WRITE
        } else {
            exo_abi::cap::PERM_READ
        },
    )?;
    if len > PAGE_SIZE || !len.is_multiple_of(512) {
        return Err(Error::Invalid);
    }
    // Once XN holds the disk, every block is reached through its checks.
    if crate::xn::attached() {
        return Err(Error::Busy);
    }
    let mut buf = [0u8; 4096];
    let buf = &mut buf[..len as usize];
    let mut guard = BLK.lock();
    let blk = guard.as_mut().ok_or(Error::NoEnv)?;
    let io = |e: BlkError| {
        if e == BlkError::Range {
            Error::Invalid
        } else {
            Error::Io
        }
    };
    if write {
        user::copy_in(ptr, buf).map_err(|_| Error::Fault)?;
        blk.write(sector, buf).map_err(io)?;
    } else {
        // Check the destination first so a bad pointer costs no disk I/O.
        user::copy_out(ptr, buf).map_err(|_| Error::Fault)?;
        let data = blk.read(sector, len).map_err(io)?;
        buf.copy_from_slice(data);
        user::copy_out(ptr, buf).map_err(|_| Error::Fault)?;
    }
    val(len)
}

fn console_write(ptr: u64, len: u64) -> R {
    let n = (len as usize).min(CONSOLE_CHUNK);
    let mut buf = [0u8; 256];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(buf.len());
        user::copy_in(ptr.wrapping_add(done as u64), &mut buf[..k]).map_err(|_| Error::Fault)?;
        console::write_bytes(&buf[..k]);
        done += k;
    }
    val(n as u64)
}

fn console_read(ptr: u64, len: u64) -> R {
    let mut buf = [0u8; 256];
    let want = (len as usize).min(buf.len());
    // Check the destination before consuming input, so no byte is lost.
    user::copy_out(ptr, &buf[..want]).map_err(|_| Error::Fault)?;
    let mut n = 0;
    while n < want {
        let Some(b) = console::try_read() else { break };
        buf[n] = b;
        n += 1;
    }
    user::copy_out(ptr, &buf[..n]).map_err(|_| Error::Fault)?;
    val(n as u64)
}

fn p_alloc(k: &mut Kernel, ppn: u64, slot: u64) -> R {
    let guard = k.cap(k.current, slot)?;
    let id = k.current_id();
    PAGES
        .lock()
        .as_mut()
        .expect("records")
        .alloc(ppn, id, &guard)?;
    // A page may come back from another environment: it never sees old contents.
    // SAFETY: the page is RAM (the records said so), now owned by the caller
    // and not mapped anywhere; the kernel region maps all RAM.
    unsafe {
        core::ptr::write_bytes(
            crate::mem::phys_to_virt(ppn * PAGE_SIZE),
            0,
            PAGE_SIZE as usize,
        )
    };
    val(0)
}

fn p_free(k: &mut Kernel, ppn: u64, slot: u64) -> R {
    let cap = k.cap(k.current, slot)?;
    let owner = PAGES.lock().as_mut().expect("records").free(ppn, &cap)?;
    // A page given back counts towards a pending revocation of its owner.
    if let Ok(s) = k.slot_of(owner) {
        let r = &mut k.info(s).revocation;
        if r.requested > 0 {
            r.returned += 1;
        }
    }
    val(0)
}

fn p_grant(k: &mut Kernel, ppn: u64, slot: u64, env: u64) -> R {
    let cap = k.cap(k.current, slot)?;
    let to = k.slot_of(env as u32)?;
    let to_id = k.info(to).id;
    PAGES
        .lock()
        .as_mut()
        .expect("records")
        .grant(ppn, &cap, to_id)?;
    val(0)
}

fn prot_of(flags: u64) -> Prot {
    Prot {
        writable: flags & MAP_WRITE != 0,
        executable: flags & MAP_EXEC != 0,
        soft: flags & MAP_SOFT_MASK,
    }
}

/// One page-table operation of a batch on environment `slot`.
fn vm_op(k: &mut Kernel, slot: usize, op: &VmOp) -> Result<(), Error> {
    if op.va >= USER_TOP
        || !op.va.is_multiple_of(PAGE_SIZE)
        || op.flags & !(MAP_WRITE | MAP_EXEC | MAP_SOFT_MASK) != 0
    {
        return Err(Error::Invalid);
    }
    let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
    match op.op {
        OP_MAP => {
            let cap = k.cap(k.current, op.cap_slot as u64)?;
            let prot = prot_of(op.flags);
            PAGES
                .lock()
                .as_mut()
                .expect("records")
                .map_ref(op.ppn, &cap, prot.writable)?;
            // The records lock is released: mapping may allocate table pages.
            let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
            match space.map(op.va, op.ppn * PAGE_SIZE, prot) {
                Ok(old) => {
                    if let Some(old) = old {
                        PAGES
                            .lock()
                            .as_mut()
                            .expect("records")
                            .unref(old / PAGE_SIZE);
                    }
                    Ok(())
                }
                Err(_) => {
                    PAGES.lock().as_mut().expect("records").unref(op.ppn);
                    Err(Error::NoMem)
                }
            }
        }
        OP_UNMAP => {
            if let Some(pa) = space.unmap(op.va).map_err(|_| Error::Invalid)? {
                PAGES
                    .lock()
                    .as_mut()
                    .expect("records")
                    .unref(pa / PAGE_SIZE);
            }
            Ok(())
        }
        OP_PROTECT => {
            let pa = space.lookup(op.va).ok_or(Error::Invalid)?;
            let cap = k.cap(k.current, op.cap_slot as u64)?;
            let prot = prot_of(op.flags);
            PAGES.lock().as_ref().expect("records").check_protect(
                pa / PAGE_SIZE,
                &cap,
                prot.writable,
            )?;
            let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
            space.protect(op.va, prot).map_err(|_| Error::Invalid)
        }
        _ => Err(Error::Invalid),
    }
}

fn vm_batch(k: &mut Kernel, f: &mut TrapFrame, env: u64, slot: u64, ops: u64, n: u64) -> R {
    let target = k.control(env as u32, slot)?;
    if n > MAX_BATCH as u64 {
        return Err(Error::Invalid);
    }
    let size = core::mem::size_of::<VmOp>() as u64;
    for i in 0..n {
        let r = user::read::<VmOp>(ops.wrapping_add(i * size))
            .map_err(|_| Error::Fault)
            .and_then(|op| vm_op(k, target, &op));
        if let Err(e) = r {
            f.rdx = e as u64;
            return val(i);
        }
    }
    f.rdx = 0;
    val(n)
}

fn cap_derive(k: &mut Kernel, src: u64, dst: u64, ext_ptr: u64, ext_len: u64, perm: u64) -> R {
    let cap = k.cap(k.current, src)?;
    if dst as usize >= NCAPS || ext_len as usize > CAP_NAME_LEN || perm > u8::MAX as u64 {
        return Err(Error::Invalid);
    }
    let mut ext = [0u8; CAP_NAME_LEN];
    user::copy_in(ext_ptr, &mut ext[..ext_len as usize]).map_err(|_| Error::Fault)?;
    let new = cap
        .derive(&ext[..ext_len as usize], perm as u8)
        .ok_or(Error::Invalid)?;
    k.info(k.current).caps[dst as usize] = new;
    val(0)
}

fn cap_grant(k: &mut Kernel, src: u64, env: u64, env_slot: u64, dst: u64, perm: u64) -> R {
    let mut cap = k.cap(k.current, src)?;
    if cap.perm & PERM_GRANT == 0 {
        return Err(Error::Denied);
    }
    // The copy may carry fewer permissions (e.g. not GRANT: not transferable).
    cap.perm &= perm as u8;
    let target = k.control(env as u32, env_slot)?;
    let slot = k
        .info(target)
        .caps
        .get_mut(dst as usize)
        .ok_or(Error::Invalid)?;
    *slot = cap;
    val(0)
}

fn env_create(k: &mut Kernel, guard_slot: u64) -> R {
    let guard = k.cap(k.current, guard_slot)?;
    if guard.perm & PERM_WRITE == 0 {
        return Err(Error::Denied);
    }
    let parent = k.current_id();
    let slot = k.create(parent, guard)?;
    val(k.info(slot).id as u64)
}

fn env_set_entries(k: &mut Kernel, env: u64, slot: u64, ptr: u64) -> R {
    let target = k.control(env as u32, slot)?;
    let e: Entries = user::read(ptr).map_err(|_| Error::Fault)?;
    let addrs = [
        e.exception,
        e.slice_start,
        e.slice_end,
        e.pct_sync,
        e.pct_async,
        e.revoke,
        e.xstack_top,
    ];
    if addrs.iter().any(|&a| a >= USER_TOP) || e.xstack_size > e.xstack_top {
        return Err(Error::Invalid);
    }
    k.info(target).entries = e;
    val(0)
}

fn env_set_context(k: &mut Kernel, env: u64, slot: u64, ptr: u64) -> R {
    let target = k.control(env as u32, slot)?;
    if target == k.current {
        return Err(Error::Invalid);
    }
    let u: UTrapFrame = user::read(ptr).map_err(|_| Error::Fault)?;
    if u.rip >= USER_TOP || u.rsp > USER_TOP {
        return Err(Error::Invalid);
    }
    let c = &mut k.envs[target].ctx;
    *c = context_from(&u, c);
    val(0)
}

/// Registers from a user-supplied frame; segments stay the user's, and only
/// arithmetic flags and DF are taken (no IOPL, no trap flag, interrupts on).
fn context_from(u: &UTrapFrame, c: &TrapFrame) -> TrapFrame {
    const USER_FLAGS: u64 = 0x0cd5;
    TrapFrame {
        r15: u.r15,
        r14: u.r14,
        r13: u.r13,
        r12: u.r12,
        r11: u.r11,
        r10: u.r10,
        r9: u.r9,
        r8: u.r8,
        rbp: u.rbp,
        rdi: u.rdi,
        rsi: u.rsi,
        rdx: u.rdx,
        rcx: u.rcx,
        rbx: u.rbx,
        rax: u.rax,
        rip: u.rip,
        rsp: u.rsp,
        rflags: (u.rflags & USER_FLAGS) | 0x202,
        ..*c
    }
}

fn yield_call(k: &mut Kernel, f: &mut TrapFrame, target: u64) -> R {
    f.rax = 0;
    if target == u64::MAX {
        k.save_current(f);
        k.schedule(f);
        return Ok(Outcome::Switched);
    }
    let slot = k.slot_of(target as u32)?;
    if slot == k.current {
        return val(0);
    }
    k.yield_to(slot, f)?;
    Ok(Outcome::Switched)
}

fn pct_call(k: &mut Kernel, f: &mut TrapFrame, target: u64, flags: u64) -> R {
    let t = k.slot_of(target as u32)?;
    if t == k.current {
        return Err(Error::Invalid);
    }
    let me = k.current_id();
    let msg = Message::from_frame(me, f);
    let entries = k.info(t).entries;
    crate::trace::emit(
        exo_abi::trace::class::PCT,
        if flags == pct::REPLY {
            exo_abi::trace::event::PCT_REPLY
        } else {
            exo_abi::trace::event::PCT_CALL
        },
        k.current,
        target,
        flags,
    );
    match flags {
        pct::ASYNC => {
            if entries.pct_async == 0 {
                return Err(Error::Invalid);
            }
            if k.envs[t].async_msg.is_some() {
                return Err(Error::Busy);
            }
            k.envs[t].async_msg = Some(msg);
            val(0)
        }
        pct::SYNC => {
            let st = k.info(t).status;
            if entries.pct_sync == 0 || st == status::AWAIT_REPLY {
                return Err(if entries.pct_sync == 0 {
                    Error::Invalid
                } else {
                    Error::Busy
                });
            }
            f.rax = 0;
            k.save_current(f);
            let cur = k.current;
            k.info(cur).status = status::AWAIT_REPLY;
            k.envs[cur].awaiting = k.info(t).id;
            // The callee runs its PCT entry on its exception stack, with its
            // interrupted state in the frame and the message in registers.
            crate::trace::emit(
                exo_abi::trace::class::SCHED,
                exo_abi::trace::event::SWITCH,
                t,
                me as u64,
                k.info(t).id as u64,
            );
            k.current = t;
            k.sys().current_env = k.info(t).id;
            k.envs[t].space.as_ref().expect("live env").activate();
            *f = k.envs[t].ctx;
            if k.push_upcall(t, f, UPCALL_PCT, 0, me as u64, entries.pct_sync)
                .is_err()
            {
                // The callee cannot take the call: the caller gets an error.
                k.info(cur).status = status::RUNNABLE;
                k.envs[cur].ctx.rax = err_code(Error::Invalid);
                k.switch_to(cur, f, false);
                return Ok(Outcome::Switched);
            }
            if k.info(t).status != status::NOT_RUNNABLE {
                k.info(t).status = status::RUNNABLE;
            }
            k.envs[t].wk_len = 0;
            k.envs[t].pct_frame = f.rsp;
            msg.store(f);
            f.rsi = me as u64;
            Ok(Outcome::Switched)
        }
        pct::REPLY => {
            if k.info(t).status != status::AWAIT_REPLY || k.envs[t].awaiting != me {
                return Err(Error::Invalid);
            }
            f.rax = 0;
            k.save_current(f);
            // The replier goes back to what it was doing before the call.
            let cur = k.current;
            let frame = core::mem::take(&mut k.envs[cur].pct_frame);
            if frame != 0 {
                if let Ok(u) = user::read::<UTrapFrame>(frame) {
                    if u.rip < USER_TOP && u.rsp <= USER_TOP {
                        let c = &mut k.envs[cur].ctx;
                        *c = context_from(&u, c);
                    }
                }
            }
            k.info(t).status = status::RUNNABLE;
            let ctx = &mut k.envs[t].ctx;
            ctx.rax = 0;
            msg.store(ctx);
            k.switch_to(t, f, false);
            Ok(Outcome::Switched)
        }
        _ => Err(Error::Invalid),
    }
}

fn wakeup(k: &mut Kernel, f: &mut TrapFrame, ptr: u64, n: u64) -> R {
    if n == 0 || n > MAX_TERMS as u64 {
        return Err(Error::Invalid);
    }
    let mut terms = [WkTerm::default(); MAX_TERMS];
    let size = core::mem::size_of::<WkTerm>() as u64;
    for (i, t) in terms.iter_mut().enumerate().take(n as usize) {
        *t = user::read(ptr.wrapping_add(i as u64 * size)).map_err(|_| Error::Fault)?;
    }
    exo_kcore::wakeup::verify(&terms[..n as usize])?;
    let cur = k.current;
    k.envs[cur].wk = terms;
    k.envs[cur].wk_len = n as usize;
    k.info(cur).status = status::WAITING;
    f.rax = 0;
    k.save_current(f);
    k.schedule(f);
    Ok(Outcome::Switched)
}
