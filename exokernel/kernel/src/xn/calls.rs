//! The XN system call: copies the caller's argument block, names and
//! modification vectors into the kernel (bounded), runs the operation on the
//! XN engine as the caller (its environment and presented capability), and
//! copies results out. XN's own checks decide; this layer only marshals.

use super::{disk::BlkDisk, pages::KernelPages, KernelXn, XN};
use crate::env::Kernel;
use crate::mem::user;
use alloc::vec;
use alloc::vec::Vec;
use exo_abi::cap::{Cap, PERM_WRITE};
use exo_abi::syscall::Error;
use exo_abi::xn::{self as x, op, XnArgs, XnCatEntry, XnMod, XnUpdate};
use exo_xn::{Cred, Init, Mod, MountKind, TypeId, Update, Xn, BLOCK_SIZE};

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

/// The value of a capability as XN sees it: a hash of its name, never 0.
pub fn cap_value(c: &Cap) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in c.name() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h | 1 << 63
}

fn read_user<T: Copy + Default>(ptr: u64) -> Result<T, Error> {
    let mut v = T::default();
    // SAFETY: T is a plain repr(C) value; any byte pattern of its integer
    // fields is valid, and the slice covers exactly its bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(&mut v as *mut T as *mut u8, core::mem::size_of::<T>())
    };
    user::copy_in(ptr, bytes).map_err(|_| Error::Fault)?;
    Ok(v)
}

fn write_user<T: Copy>(ptr: u64, len: u64, v: &T) -> Result<(), Error> {
    let size = core::mem::size_of::<T>();
    if (len as usize) < size {
        return Err(Error::Invalid);
    }
    // SAFETY: reading the bytes of a plain repr(C) value.
    let bytes = unsafe { core::slice::from_raw_parts(v as *const T as *const u8, size) };
    user::copy_out(ptr, bytes).map_err(|_| Error::Fault)
}

fn bytes_in(ptr: u64, len: u64, max: usize) -> Result<Vec<u8>, Error> {
    if len as usize > max {
        return Err(Error::Invalid);
    }
    let mut v = vec![0u8; len as usize];
    user::copy_in(ptr, &mut v).map_err(|_| Error::Fault)?;
    Ok(v)
}

fn name_in(a: &XnArgs) -> Result<alloc::string::String, Error> {
    let b = bytes_in(a.name_ptr, a.name_len, x::MAX_NAME)?;
    alloc::string::String::from_utf8(b).map_err(|_| Error::Invalid)
}

/// A modification vector: each range's bytes copied in.
fn mods_in(ptr: u64, n: u64) -> Result<Vec<(usize, Vec<u8>)>, Error> {
    if n as usize > x::MAX_MODS {
        return Err(Error::Invalid);
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let m: XnMod = read_user(ptr.wrapping_add(i * core::mem::size_of::<XnMod>() as u64))?;
        out.push((m.offset as usize, bytes_in(m.ptr, m.len, BLOCK_SIZE)?));
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

/// `xn(args_ptr, slot)` for the current environment; every operation is
/// traced with its outcome.
pub fn call(k: &mut Kernel, args_ptr: u64, slot: u64) -> R {
    let a: XnArgs = read_user(args_ptr)?;
    super::CALLER.store(k.current, core::sync::atomic::Ordering::Relaxed);
    let r = dispatch(k, &a, slot);
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
        k.current,
        a.op as u64,
        code,
    );
    r
}

fn dispatch(k: &mut Kernel, a: &XnArgs, slot: u64) -> R {
    let cap = k.cap(k.current, slot)?;
    let cred = Cred {
        env: k.current_id() as u64,
        cap: cap_value(&cap),
    };
    let root = cap.allows(&Cap::ROOT, PERM_WRITE);
    let mut guard = XN.lock();
    match a.op {
        op::CAP_VALUE => return Ok(cred.cap),
        op::FORMAT => {
            if !root {
                return Err(Error::Denied.into());
            }
            if guard.is_some() && a.a != 1 {
                return Err(exo_xn::Error::Exists.into());
            }
            *guard = None;
            let disk = BlkDisk::new().ok_or(Error::NoEnv)?;
            let xn = Xn::format(disk, KernelPages)?;
            super::publish_registry(&xn);
            *guard = Some(xn);
            return Ok(0);
        }
        _ => {}
    }
    let xn = guard.as_mut().ok_or(Error::NoEnv)?;
    if a.op == op::READ_AND_INSERT && a.buf_len > 0 {
        let r = read_into_caller_pages(xn, a, k.current_id(), &cap);
        super::publish_registry(xn);
        return r;
    }
    let r = run(xn, a, cred, root);
    super::publish_registry(xn);
    r
}

/// `read_and_insert` into pages the caller supplies (thesis ch. 8: the
/// libFS provides the buffer-cache pages): each must be the caller's,
/// guarded by the presented capability and mapped nowhere; it passes to the
/// kernel while XN caches the block, and comes back if XN did not use it.
fn read_into_caller_pages(xn: &mut KernelXn, a: &XnArgs, env: u32, cap: &Cap) -> R {
    use crate::mem::frames::PAGES;
    let n = a.b as usize;
    if n == 0 || n > x::MAX_PAGES || (a.buf_len as usize) < n * 8 {
        return Err(Error::Invalid.into());
    }
    let raw = bytes_in(a.buf_ptr, (n * 8) as u64, x::MAX_PAGES * 8)?;
    let ppns: Vec<u64> = raw
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    let mut taken: Vec<(u64, Cap)> = Vec::with_capacity(n);
    {
        let mut pages = PAGES.lock();
        let pages = pages.as_mut().ok_or(Error::NoMem)?;
        for &p in &ppns {
            if taken.iter().any(|(q, _)| *q == p) {
                return_all(pages, &taken, env);
                return Err(Error::Invalid.into());
            }
            match pages.take_for_kernel(p, env, cap) {
                Ok(g) => taken.push((p, g)),
                Err(e) => {
                    return_all(pages, &taken, env);
                    return Err(e.into());
                }
            }
        }
    }
    let r = xn.read_and_insert(a.a, a.b, Some(&ppns));
    let mut pages = PAGES.lock();
    if let Some(pages) = pages.as_mut() {
        for (i, (p, g)) in taken.iter().enumerate() {
            let used = r.is_ok() && xn.read_attr(a.a + i as u64).is_some_and(|at| at.page == *p);
            if !used {
                pages.return_from_kernel(*p, env, *g);
            }
        }
    }
    Ok(r?)
}

fn return_all(pages: &mut exo_kcore::pages::Pages<'static>, taken: &[(u64, Cap)], env: u32) {
    for (p, g) in taken {
        pages.return_from_kernel(*p, env, *g);
    }
}

fn run(xn: &mut KernelXn, a: &XnArgs, cred: Cred, root: bool) -> R {
    let init_bytes;
    let init = if a.flags & x::INIT_BYTES != 0 {
        init_bytes = bytes_in(a.buf_ptr, a.buf_len, BLOCK_SIZE)?;
        Init::Bytes(&init_bytes)
    } else {
        Init::Zero
    };
    match a.op {
        op::INFO => Ok(xn.info().nblocks),
        op::SHUTDOWN => {
            if !root {
                return Err(Error::Denied.into());
            }
            xn.shutdown()?;
            Ok(0)
        }
        op::RESERVE_TYPE => Ok(xn.reserve_type(cred, &name_in(a)?)?.0 as u64),
        op::TYPE_IMPORT => Ok(xn.type_import(cred, &name_in(a)?)?.0 as u64),
        op::INSTALL_MOUNT => {
            let kind = if a.flags & x::KIND_ROOT != 0 {
                MountKind::Root {
                    ty: TypeId(a.upd.ty),
                    temporary: a.flags & x::TEMPORARY != 0,
                }
            } else {
                MountKind::Type
            };
            let db = (a.a != x::NONE).then_some(a.a);
            Ok(xn.install_mount(cred, &name_in(a)?, db, a.b, kind, init)?)
        }
        op::LOOKUP => {
            let e = exo_xn::api::lookup(xn, &name_in(a)?)?;
            let out = XnCatEntry {
                slot: e.slot as u64,
                db: e.db,
                nblocks: e.nblocks,
                ty: e.ty.0,
                is_root: e.is_root as u8,
                tainted: e.tainted as u8,
                _pad: 0,
            };
            write_user(a.buf_ptr, a.buf_len, &out)?;
            Ok(0)
        }
        op::MOUNT => {
            xn.mount(&name_in(a)?)?;
            Ok(0)
        }
        op::READ_AND_INSERT => Ok(xn.read_and_insert(a.a, a.b, None)?),
        op::INSERT_ATTR => {
            xn.insert_attr(a.a, update(&a.upd))?;
            Ok(0)
        }
        op::ALLOC => {
            let mv = mods_in(a.mv_ptr, a.mv_len)?;
            xn.alloc(cred, a.a, update(&a.upd), &as_mods(&mv), init)?;
            Ok(0)
        }
        op::FREE => {
            let (mv, kid) = (mods_in(a.mv_ptr, a.mv_len)?, mods_in(a.mv2_ptr, a.mv2_len)?);
            xn.free(cred, a.a, update(&a.upd), &as_mods(&mv), &as_mods(&kid))?;
            Ok(0)
        }
        op::ADD_EDGE => {
            let (mv, dst) = (mods_in(a.mv_ptr, a.mv_len)?, mods_in(a.mv2_ptr, a.mv2_len)?);
            let own_id = u32::try_from(a.c).map_err(|_| Error::Invalid)?;
            xn.add_edge(cred, a.a, own_id, &as_mods(&mv), a.b, &as_mods(&dst))?;
            Ok(0)
        }
        op::READB => {
            if a.buf_len as usize > BLOCK_SIZE {
                return Err(Error::Invalid.into());
            }
            let mut buf = vec![0u8; a.buf_len as usize];
            xn.readb(cred, a.a, a.b as usize, &mut buf)?;
            user::copy_out(a.buf_ptr, &buf).map_err(|_| Error::Fault)?;
            Ok(0)
        }
        op::WRITEB => {
            let bytes = bytes_in(a.buf_ptr, a.buf_len, BLOCK_SIZE)?;
            xn.writeb(cred, a.a, a.b as usize, &bytes)?;
            Ok(0)
        }
        op::WRITEBACK => Ok(xn.writeback(cred, a.a, a.b)?),
        op::FIND_FREE => xn
            .find_free(a.a, a.b)
            .ok_or(CallError::Xn(exo_xn::Error::NoSpace)),
        op::UDF_ENUM => {
            let (b, e) = (
                u32::try_from(a.b).map_err(|_| Error::Invalid)?,
                u32::try_from(a.c).map_err(|_| Error::Invalid)?,
            );
            let list = xn.udf_enum(a.a, b, e)?;
            let size = core::mem::size_of::<XnUpdate>() as u64;
            if list.len() > x::MAX_ENUM || (list.len() as u64) * size > a.buf_len {
                return Err(Error::Invalid.into());
            }
            for (i, u) in list.iter().enumerate() {
                let out = XnUpdate {
                    db: u.db,
                    nblocks: u.nblocks,
                    own_id: u.own_id,
                    ty: u.ty.0,
                    _pad: 0,
                };
                write_user(a.buf_ptr + i as u64 * size, size, &out)?;
            }
            Ok(list.len() as u64)
        }
        op::READ_ATTR => {
            let attr = xn.read_attr(a.a).ok_or(exo_xn::Error::NotInCore)?;
            write_user(a.buf_ptr, a.buf_len, &attr)?;
            Ok(0)
        }
        op::GET_REFCNT => Ok(xn.get_refcnt(a.a)?.unwrap_or(u64::MAX)),
        op::LIST_WRITEABLE => {
            let list = xn.list_writeable();
            let n = list.len().min(x::MAX_ENUM).min(a.buf_len as usize / 8);
            let bytes: Vec<u8> = list[..n].iter().flat_map(|d| d.to_le_bytes()).collect();
            user::copy_out(a.buf_ptr, &bytes).map_err(|_| Error::Fault)?;
            Ok(n as u64)
        }
        _ => Err(Error::NoSys.into()),
    }
}
