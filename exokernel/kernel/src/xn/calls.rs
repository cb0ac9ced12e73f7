//! The XN system call: decodes the caller's argument block into an
//! [`XnCall`], copies names, modification vectors and bytes into the
//! kernel (bounded by their types), runs the operation on the XN engine as
//! the caller (its environment and presented capability), and copies
//! results out. XN's own checks decide; this layer only marshals.

use super::{disk::BlkDisk, pages::KernelPages, KernelXn, XN};
use crate::env::Kernel;
use crate::mem::user;
use crate::syscalls::{val, Cx, SysResult};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use exo_abi::cap::{Cap, PERM_WRITE};
use exo_abi::env::Resource;
use exo_abi::syscall::arg::{UserArray, UserBytes};
use exo_abi::syscall::{args, Error};
use exo_abi::xn::{
    BlockBytes, XnArgs, XnCall, XnCatEntry, XnMods, XnName, XnRoot, XnUpdate, MAX_PAGES,
};
use exo_xn::{Cred, Init, Mod, MountKind, TypeId, Update, Xn, BLOCK_SIZE};

const _: () = assert!(BLOCK_SIZE == exo_abi::xn::BLOCK_SIZE);

/// Why a call failed: a bad argument (the usual error) or XN's refusal.
pub enum CallError {
    Abi(Error),
    Xn(exo_xn::Error),
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Abi(e)
    }
}

impl From<exo_xn::Error> for CallError {
    fn from(e: exo_xn::Error) -> Self {
        CallError::Xn(e)
    }
}

type R = Result<u64, CallError>;

/// `xn(args, cap)`: every operation is traced with its outcome; XN's
/// refusal goes back as Error::Xn with its code in `rdx`.
pub fn sys_xn(cx: &mut Cx<'_>, a: args::Xn) -> SysResult {
    let raw: XnArgs = user::read(a.args.ptr).map_err(|_| Error::Fault)?;
    super::CALLER.store(cx.k.current, core::sync::atomic::Ordering::Relaxed);
    let r = XnCall::decode(&raw)
        .map_err(CallError::Abi)
        .and_then(|call| dispatch(cx.k, call, a.cap));
    // Pages the call let go of that environments map: unmapped, then freed.
    super::maps::reap(cx.k);
    // XN's refusals by their code; the kernel's own (capability, page
    // ownership, bad arguments) with bit 16 set.
    let code = match &r {
        Err(CallError::Xn(e)) => e.code() as u64,
        Err(CallError::Abi(e)) => 0x1_0000 | *e as u64,
        Ok(_) => 0,
    };
    crate::trace::emit(
        exo_abi::trace::class::XN,
        exo_abi::trace::event::XN_CALL,
        cx.k.current,
        raw.op as u64,
        code,
    );
    match r {
        Ok(v) => val(v),
        Err(CallError::Abi(e)) => Err(e),
        Err(CallError::Xn(e)) => {
            cx.f.rdx = e.code() as u64;
            Err(Error::Xn)
        }
    }
}

fn bytes_in<const MIN: u64, const MAX: u64>(b: UserBytes<MIN, MAX>) -> Result<Vec<u8>, Error> {
    let mut v = vec![0u8; b.len()];
    user::copy_in(b.ptr, &mut v).map_err(|_| Error::Fault)?;
    Ok(v)
}

fn name_in(n: XnName) -> Result<String, Error> {
    String::from_utf8(bytes_in(n)?).map_err(|_| Error::Invalid)
}

/// A modification vector: each range's bytes copied in.
fn mods_in(m: XnMods) -> Result<Vec<(usize, Vec<u8>)>, Error> {
    let mut out = Vec::with_capacity(m.len());
    for i in 0..m.len() {
        let r: exo_abi::xn::XnMod = user::read(m.addr(i)).map_err(|_| Error::Fault)?;
        let bytes = UserBytes::<0, { BLOCK_SIZE as u64 }>::check(r.ptr, r.len)?;
        out.push((r.offset as usize, bytes_in(bytes)?));
    }
    Ok(out)
}

fn as_mods(v: &[(usize, Vec<u8>)]) -> Vec<Mod<'_>> {
    v.iter()
        .map(|(offset, bytes)| Mod {
            offset: *offset,
            bytes,
        })
        .collect()
}

fn update(u: &XnUpdate) -> Update {
    Update {
        own_id: u.own_id,
        db: u.db,
        nblocks: u.nblocks,
        ty: TypeId(u.ty),
    }
}

fn write_out<T: Copy>(ptr: u64, v: &T) -> Result<(), Error> {
    user::copy_out(ptr, user::bytes_of(v)).map_err(|_| Error::Fault)
}

fn dispatch(k: &mut Kernel, call: XnCall, slot: exo_abi::syscall::arg::CapSlot) -> R {
    let cap = k.my_cap(slot)?;
    let cred = Cred {
        env: k.current_id() as u64,
        cap: cap.xn_value(),
    };
    let root = cap.allows(&Cap::ROOT, PERM_WRITE);
    let mut guard = XN.lock();
    match call {
        XnCall::CapValue => return Ok(cred.cap),
        XnCall::Format { force } => {
            if !root {
                return Err(Error::Denied.into());
            }
            if guard.is_some() && !force {
                return Err(exo_xn::Error::Exists.into());
            }
            *guard = None;
            drop(guard);
            let disk = BlkDisk::new().ok_or(Error::NoEnv)?;
            super::install(Xn::format(disk, KernelPages)?);
            return Ok(0);
        }
        _ => {}
    }
    let xn = guard.as_mut().ok_or(Error::NoEnv)?;
    // Cache pages XN takes for this call are charged to the caller.
    let at_most = match &call {
        XnCall::ReadAndInsert { n, pages: None, .. } => *n,
        XnCall::Alloc { upd, .. } => upd.nblocks,
        XnCall::InstallMount { nblocks, .. } => *nblocks,
        _ => 1,
    };
    let me = k.current;
    if !k.fits(me, Resource::Pages, at_most) {
        return Err(Error::Quota.into());
    }
    if !super::pages::heap_has_room(at_most) {
        return Err(exo_xn::Error::NoSpace.into());
    }
    let held = super::pages::held();
    // Calls that only read leave the registry as it is: republishing it
    // (all of it, a copy per call) would make every read cost as much as
    // the cache is large.
    let changes_registry = !matches!(
        call,
        XnCall::Lookup { .. }
            | XnCall::ReadB { .. }
            | XnCall::FindFree { .. }
            | XnCall::UdfEnum { .. }
            | XnCall::ReadAttr { .. }
            | XnCall::GetRefcnt { .. }
            | XnCall::Info
            | XnCall::ListWriteable { .. }
            | XnCall::Map { .. }
    );
    let r = match call {
        XnCall::Map { db, va } => xn
            .check_map(cred, db, false)
            .map_err(CallError::from)
            .and_then(|ppn| Ok(super::maps::bind(k, me, ppn, va).map(|()| 0)?)),
        XnCall::ReadAndInsert {
            db,
            n: _,
            pages: Some(pages),
        } => read_into_caller_pages(xn, db, pages, k.current_id(), &cap),
        call => run(xn, call, cred, root),
    };
    k.force_charge(
        me,
        Resource::Pages,
        super::pages::held().saturating_sub(held),
    );
    if changes_registry {
        super::publish_registry(xn);
    }
    r
}

/// `read_and_insert` into pages the caller supplies (thesis ch. 8: the
/// libFS provides the buffer-cache pages): each must be the caller's,
/// guarded by the presented capability and mapped nowhere; it passes to the
/// kernel while XN caches the block, and comes back if XN did not use it.
fn read_into_caller_pages(
    xn: &mut KernelXn,
    db: u64,
    pages: UserArray<u64, 1, { MAX_PAGES as u64 }>,
    env: u32,
    cap: &Cap,
) -> R {
    use crate::mem::frames::PAGES;
    let mut ppns = [0u64; MAX_PAGES];
    let ppns = &mut ppns[..pages.len()];
    for (i, p) in ppns.iter_mut().enumerate() {
        *p = user::read(pages.addr(i)).map_err(|_| Error::Fault)?;
    }
    let mut taken: Vec<(u64, Cap)> = Vec::with_capacity(ppns.len());
    {
        let mut records = PAGES.lock();
        let records = records.as_mut().ok_or(Error::NoMem)?;
        for &p in ppns.iter() {
            let r = if taken.iter().any(|(q, _)| *q == p) {
                Err(Error::Invalid)
            } else {
                records.take_for_kernel(p, env, cap)
            };
            match r {
                Ok(g) => taken.push((p, g)),
                Err(e) => {
                    taken
                        .iter()
                        .for_each(|(p, g)| records.return_from_kernel(*p, env, *g));
                    return Err(e.into());
                }
            }
        }
    }
    let r = xn.read_and_insert(db, ppns.len() as u64, Some(ppns));
    let mut records = PAGES.lock();
    if let Some(records) = records.as_mut() {
        for (i, (p, g)) in taken.iter().enumerate() {
            let used = r.is_ok() && xn.read_attr(db + i as u64).is_some_and(|at| at.page == *p);
            if !used {
                records.return_from_kernel(*p, env, *g);
            }
        }
    }
    Ok(r?)
}

fn run(xn: &mut KernelXn, call: XnCall, cred: Cred, root: bool) -> R {
    let init_bytes;
    let init =
        |b: Option<BlockBytes>| -> Result<Option<Vec<u8>>, Error> { b.map(bytes_in).transpose() };
    match call {
        XnCall::Info => Ok(xn.info().nblocks),
        XnCall::Shutdown => {
            if !root {
                return Err(Error::Denied.into());
            }
            xn.shutdown()?;
            Ok(0)
        }
        XnCall::ReserveType { name } => Ok(xn.reserve_type(cred, &name_in(name)?)?.0 as u64),
        XnCall::TypeImport { name } => Ok(xn.type_import(cred, &name_in(name)?)?.0 as u64),
        XnCall::InstallMount {
            name,
            db,
            nblocks,
            root: kind,
            init: bytes,
        } => {
            let kind = match kind {
                Some(XnRoot { ty, temporary }) => MountKind::Root {
                    ty: TypeId(ty),
                    temporary,
                },
                None => MountKind::Type,
            };
            init_bytes = init(bytes)?;
            let init = init_bytes.as_deref().map_or(Init::Zero, Init::Bytes);
            Ok(xn.install_mount(cred, &name_in(name)?, db, nblocks, kind, init)?)
        }
        XnCall::Lookup { name, out } => {
            let e = exo_xn::api::lookup(xn, &name_in(name)?)?;
            let entry = XnCatEntry {
                slot: e.slot as u64,
                db: e.db,
                nblocks: e.nblocks,
                ty: e.ty.0,
                is_root: e.is_root as u8,
                tainted: e.tainted as u8,
                _pad: 0,
            };
            write_out(out.ptr, &entry)?;
            Ok(0)
        }
        XnCall::Mount { name } => {
            xn.mount(&name_in(name)?)?;
            Ok(0)
        }
        XnCall::ReadAndInsert { db, n, pages: _ } => Ok(xn.read_and_insert(db, n, None)?),
        XnCall::InsertAttr { parent, upd } => {
            xn.insert_attr(parent, update(&upd))?;
            Ok(0)
        }
        XnCall::Alloc {
            parent,
            upd,
            mods,
            init: bytes,
        } => {
            let mv = mods_in(mods)?;
            init_bytes = init(bytes)?;
            let init = init_bytes.as_deref().map_or(Init::Zero, Init::Bytes);
            xn.alloc(cred, parent, update(&upd), &as_mods(&mv), init)?;
            Ok(0)
        }
        XnCall::Free {
            parent,
            upd,
            mods,
            child_mods,
        } => {
            let (mv, kid) = (mods_in(mods)?, mods_in(child_mods)?);
            xn.free(cred, parent, update(&upd), &as_mods(&mv), &as_mods(&kid))?;
            Ok(0)
        }
        XnCall::AddEdge {
            src,
            dst,
            own_id,
            src_mods,
            dst_mods,
        } => {
            let (mv, dmv) = (mods_in(src_mods)?, mods_in(dst_mods)?);
            xn.add_edge(cred, src, own_id, &as_mods(&mv), dst, &as_mods(&dmv))?;
            Ok(0)
        }
        XnCall::ReadB { db, offset, out } => {
            let mut buf = vec![0u8; out.len()];
            xn.readb(cred, db, offset as usize, &mut buf)?;
            user::copy_out(out.ptr, &buf).map_err(|_| Error::Fault)?;
            Ok(0)
        }
        XnCall::WriteB { db, offset, bytes } => {
            xn.writeb(cred, db, offset as usize, &bytes_in(bytes)?)?;
            Ok(0)
        }
        XnCall::Writeback { db, n } => Ok(xn.writeback(cred, db, n)?),
        XnCall::FindFree { hint, n } => xn
            .find_free(hint, n)
            .ok_or(CallError::Xn(exo_xn::Error::NoSpace)),
        XnCall::UdfEnum {
            db,
            first,
            end,
            out,
        } => {
            let list = xn.udf_enum(db, first, end)?;
            if list.len() > out.len() {
                return Err(Error::Invalid.into());
            }
            for (i, u) in list.iter().enumerate() {
                let entry = XnUpdate {
                    db: u.db,
                    nblocks: u.nblocks,
                    own_id: u.own_id,
                    ty: u.ty.0,
                    _pad: 0,
                };
                write_out(out.addr(i), &entry)?;
            }
            Ok(list.len() as u64)
        }
        XnCall::ReadAttr { db, out } => {
            let attr = xn.read_attr(db).ok_or(exo_xn::Error::NotInCore)?;
            if out.len() < core::mem::size_of_val(&attr) {
                return Err(Error::Invalid.into());
            }
            write_out(out.ptr, &attr)?;
            Ok(0)
        }
        XnCall::GetRefcnt { db } => Ok(xn.get_refcnt(db)?.unwrap_or(exo_abi::xn::NO_REFCNT)),
        XnCall::ListWriteable { out } => {
            let list = xn.list_writeable();
            let n = list.len().min(out.len());
            let bytes: Vec<u8> = list[..n].iter().flat_map(|d| d.to_le_bytes()).collect();
            user::copy_out(out.ptr, &bytes).map_err(|_| Error::Fault)?;
            Ok(n as u64)
        }
        XnCall::UninstallMount { name } => {
            xn.uninstall_mount(cred, &name_in(name)?)?;
            Ok(0)
        }
        XnCall::TypeMount { name } => {
            xn.type_mount(&name_in(name)?)?;
            Ok(0)
        }
        XnCall::Lock { db } => {
            xn.lock(cred, db)?;
            Ok(0)
        }
        XnCall::Unlock { db } => {
            xn.unlock(cred, db)?;
            Ok(0)
        }
        XnCall::DeleteAttr { db, n } => {
            xn.delete_attr(cred, db, n)?;
            Ok(0)
        }
        XnCall::DbAlloc { db, n } => {
            if !root {
                return Err(Error::Denied.into());
            }
            xn.db_alloc(db, n)?;
            Ok(0)
        }
        XnCall::CapValue | XnCall::Format { .. } | XnCall::Map { .. } => Err(Error::NoSys.into()),
    }
}
