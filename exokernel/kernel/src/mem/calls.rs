//! The memory system calls: pages by name (`p_alloc`, `p_free`,
//! `p_grant`, `p_share`) and batched page-table operations (`vm_batch`), each guarded
//! by the capability the caller presents.

use super::frames::PAGES;
use super::paging::Prot;
use super::{user, PAGE_SIZE};
use crate::env::Kernel;
use crate::syscalls::{done, val, Cx, SysResult};
use exo_abi::env::Resource::Pages;
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::arg::CapSlot;
use exo_abi::syscall::{args, Error};
use exo_abi::vm::{VmOp, MAP_EXEC, MAP_SOFT_MASK, MAP_WRITE, OP_MAP, OP_PROTECT, OP_UNMAP};

/// The page records (set at boot, before any environment runs).
fn records<R>(f: impl FnOnce(&mut exo_kcore::pages::Pages<'static>) -> R) -> R {
    f(PAGES
        .lock()
        .as_mut()
        .expect("page records are built at boot"))
}

pub fn sys_p_alloc(cx: &mut Cx<'_>, a: args::PAlloc) -> SysResult {
    let guard = cx.k.my_cap(a.guard)?;
    let id = cx.k.current_id();
    let ppn = a.ppn.get();
    cx.k.charge(cx.k.current, Pages, 1)?;
    if let Err(e) = records(|p| p.alloc(ppn, id, &guard)) {
        cx.k.uncharge(cx.k.current, Pages, 1);
        return Err(e);
    }
    // A page may come back from another environment: it never sees old contents.
    // SAFETY: the page is RAM (the records said so), now owned by the caller
    // and not mapped anywhere; the kernel region maps all RAM.
    unsafe { core::ptr::write_bytes(super::phys_to_virt(ppn * PAGE_SIZE), 0, PAGE_SIZE as usize) };
    done()
}

pub fn sys_p_free(cx: &mut Cx<'_>, a: args::PFree) -> SysResult {
    let cap = cx.k.my_cap(a.cap)?;
    let owner = records(|p| p.free(a.ppn.get(), &cap))?;
    cx.k.uncharge_id(owner, Pages, 1);
    // A page given back counts towards a pending revocation of its owner.
    if let Ok(s) = cx.k.slot_of(owner) {
        let r = &mut cx.k.info_mut(s).revocation;
        if r.requested > 0 {
            r.returned += 1;
        }
    }
    done()
}

pub fn sys_p_grant(cx: &mut Cx<'_>, a: args::PGrant) -> SysResult {
    let cap = cx.k.my_cap(a.cap)?;
    let to = cx.k.slot_of(a.to.0)?;
    let to_id = cx.k.info(to).id;
    let ppn = a.ppn.get();
    let from = records(|p| p.get(ppn).map(|r| r.owner)).ok_or(Error::Invalid)?;
    // The receiver pays for what it is given, and must be able to.
    cx.k.charge(to, Pages, 1)?;
    if let Err(e) = records(|p| p.grant(ppn, &cap, to_id)) {
        cx.k.uncharge(to, Pages, 1);
        return Err(e);
    }
    cx.k.uncharge_id(from, Pages, 1);
    done()
}

pub fn sys_p_share(cx: &mut Cx<'_>, a: args::PShare) -> SysResult {
    let cap = cx.k.my_cap(a.cap)?;
    let reader = cx.k.my_cap(a.reader)?;
    records(|p| p.share_read(a.ppn.get(), &cap, reader))?;
    done()
}

/// Applies the operations in order; the first failure stops the batch and
/// its error goes back in `rdx` beside the count done.
pub fn sys_vm_batch(cx: &mut Cx<'_>, a: args::VmBatch) -> SysResult {
    let target = cx.k.control(a.env, a.cap)?;
    // Read a few operations at a time: one translation of the caller's
    // array per chunk rather than two per operation.
    const CHUNK: usize = 16;
    let mut chunk = [core::mem::MaybeUninit::<VmOp>::uninit(); CHUNK];
    let mut i = 0;
    while i < a.ops.len() {
        let n = CHUNK.min(a.ops.len() - i);
        // A chunk that cannot be read whole is read one by one, so that the
        // operations before the bad one are done.
        let whole = user::read_slice(a.ops.addr(i), &mut chunk[..n]).ok();
        for k in 0..n {
            let op = match whole {
                Some(ops) => Ok(ops[k]),
                None => user::read::<VmOp>(a.ops.addr(i + k)).map_err(|_| Error::Fault),
            };
            if let Err(e) = op.and_then(|op| vm_op(cx.k, target, &op)) {
                cx.f.rdx = e as u64;
                return val((i + k) as u64);
            }
        }
        i += n;
    }
    cx.f.rdx = 0;
    val(a.ops.len() as u64)
}

fn prot_of(flags: u64) -> Prot {
    Prot {
        writable: flags & MAP_WRITE != 0,
        executable: flags & MAP_EXEC != 0,
        soft: flags & MAP_SOFT_MASK,
    }
}

/// Page `ppn` is no longer mapped at `va` in environment `slot`: one
/// mapping fewer, and an XN binding gone if it was one.
fn unmapped(k: &Kernel, slot: usize, va: u64, ppn: u64) {
    // A kernel page mapped in user space is one of XN's cache pages: the
    // only pages environments map that they do not own.
    let cache_page = records(|p| {
        p.unref(ppn);
        p.get(ppn)
            .is_some_and(|r| r.owner == exo_abi::pages::KERNEL)
    });
    if cache_page {
        crate::xn::maps::forget(k.info(slot).id, va, ppn);
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
    let cap_slot = || CapSlot::new(op.cap_slot as u64).ok_or(Error::Invalid);
    match op.op {
        OP_MAP => {
            let cap = k.my_cap(cap_slot()?)?;
            let prot = prot_of(op.flags);
            // The page tables the mapping needs are charged to `slot`.
            let space = k.envs[slot].space.as_ref().ok_or(Error::NoEnv)?;
            let (tables, needed) = (space.tables(), space.tables_needed(op.va));
            k.charge(slot, Pages, needed)?;
            let mapped = records(|p| p.map_ref(op.ppn, &cap, prot.writable)).and_then(|()| {
                // The records lock is released: mapping may allocate table pages.
                let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
                space
                    .map(op.va, op.ppn * PAGE_SIZE, prot)
                    .map_err(|_| Error::NoMem)
                    .inspect_err(|_| records(|p| p.unref(op.ppn)))
            });
            let made = k.envs[slot]
                .space
                .as_ref()
                .map_or(0, |s| s.tables() - tables);
            k.uncharge(slot, Pages, needed.saturating_sub(made));
            match mapped {
                Ok(old) => {
                    if let Some(old) = old {
                        unmapped(k, slot, op.va, old / PAGE_SIZE);
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        OP_UNMAP => {
            let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
            if let Some(pa) = space.unmap(op.va).map_err(|_| Error::Invalid)? {
                unmapped(k, slot, op.va, pa / PAGE_SIZE);
            }
            Ok(())
        }
        OP_PROTECT => {
            let space = k.envs[slot].space.as_ref().ok_or(Error::NoEnv)?;
            let pa = space.lookup(op.va).ok_or(Error::Invalid)?;
            let cap = k.my_cap(cap_slot()?)?;
            let prot = prot_of(op.flags);
            records(|p| p.check_protect(pa / PAGE_SIZE, &cap, prot.writable))?;
            let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
            space.protect(op.va, prot).map_err(|_| Error::Invalid)
        }
        _ => Err(Error::Invalid),
    }
}
