//! XN from an environment: [`XnCalls`] over the kernel's XN system call, so
//! a library file system written against the trait runs here unchanged.
//! Every call presents the capability in `slot`.

use alloc::vec;
use alloc::vec::Vec;
use exo_abi::syscall::{Error as SysError, XN};
use exo_abi::xn::{self as x, op, XnArgs, XnCatEntry, XnMod, XnUpdate};
use exo_xn::api::{CatEntry, XnCalls};
use exo_xn::registry::XrAttr;
use exo_xn::{Db, Error, Init, Mod, MountKind, TypeId, Update};

/// XN's buffer-cache registry as the kernel shows it (read-only window,
/// refreshed after every XN call): which blocks are cached, in which
/// physical page, bound to which parent and type, dirty/tainted/locked.
pub fn registry() -> &'static [XrAttr] {
    use exo_abi::layout::UXNREG;
    use exo_abi::xn::{RegistryHeader, REGISTRY_ENTRIES};
    // SAFETY: the kernel maps the window read-only in every environment;
    // `count` never exceeds the entries that fit in it.
    unsafe {
        let h = (UXNREG as *const RegistryHeader).read_volatile();
        core::slice::from_raw_parts(
            (UXNREG as usize + REGISTRY_ENTRIES) as *const XrAttr,
            h.count.min(h.capacity) as usize,
        )
    }
}

/// The kernel's XN, reached with the capability in `slot`.
pub struct Sys {
    slot: usize,
    cap: u64,
}

/// A system-call failure as an XN error (bad arguments become BadRange,
/// a missing XN disk NoSuchName, a refused capability AccessDenied, a page
/// still mapped InUse).
fn xn_error(e: SysError, code: u64) -> Error {
    match e {
        SysError::Xn => Error::from_code(code as u32).unwrap_or(Error::BadRange),
        SysError::Denied => Error::AccessDenied,
        SysError::NoEnv => Error::NoSuchName,
        SysError::Io => Error::Disk(exo_xn::DiskError::Io),
        SysError::NoMem => Error::NoSpace,
        SysError::Busy => Error::InUse,
        _ => Error::BadRange,
    }
}

fn invoke(a: &XnArgs, slot: usize) -> Result<u64, Error> {
    // SAFETY: the kernel reads `a` and the buffers it names, all live
    // borrows of the caller for the duration of the call.
    let (r, code) = unsafe { crate::sys::syscall5(XN, a as *const _ as u64, slot as u64, 0, 0, 0) };
    match SysError::from_result(r) {
        Some(e) if r < 0 => Err(xn_error(e, code)),
        _ => Ok(r as u64),
    }
}

fn args(op: u32) -> XnArgs {
    XnArgs {
        op,
        ..XnArgs::default()
    }
}

fn with_name(mut a: XnArgs, name: &str) -> XnArgs {
    a.name_ptr = name.as_ptr() as u64;
    a.name_len = name.len() as u64;
    a
}

fn upd(u: Update) -> XnUpdate {
    XnUpdate {
        db: u.db,
        nblocks: u.nblocks,
        own_id: u.own_id,
        ty: u.ty.0,
        _pad: 0,
    }
}

fn mods(mv: &[Mod]) -> Vec<XnMod> {
    mv.iter()
        .map(|m| XnMod {
            offset: m.offset as u64,
            ptr: m.bytes.as_ptr() as u64,
            len: m.bytes.len() as u64,
        })
        .collect()
}

fn set_init(a: &mut XnArgs, init: &Init) {
    if let Init::Bytes(b) = init {
        a.flags |= x::INIT_BYTES;
        a.buf_ptr = b.as_ptr() as u64;
        a.buf_len = b.len() as u64;
    }
}

impl Sys {
    /// XN as the holder of the capability in `slot`.
    pub fn new(slot: usize) -> Result<Sys, Error> {
        let cap = invoke(&args(op::CAP_VALUE), slot)?;
        Ok(Sys { slot, cap })
    }

    /// Formats the disk for XN (root capability; `force` even over XN).
    pub fn format(&mut self, force: bool) -> Result<(), Error> {
        let mut a = args(op::FORMAT);
        a.a = force as u64;
        invoke(&a, self.slot).map(drop)
    }

    /// Blocks of the XN disk.
    pub fn nblocks(&mut self) -> Result<u64, Error> {
        invoke(&args(op::INFO), self.slot)
    }

    /// `read_and_insert` into our own pages (physical page numbers of pages
    /// we own and do not map): they belong to the kernel while XN caches the
    /// blocks; pages XN did not need come back.
    pub fn read_and_insert_into(&mut self, db: Db, ppns: &[u64]) -> Result<u64, Error> {
        let mut a = args(op::READ_AND_INSERT);
        (a.a, a.b) = (db, ppns.len() as u64);
        (a.buf_ptr, a.buf_len) = (ppns.as_ptr() as u64, (ppns.len() * 8) as u64);
        self.call(&a)
    }

    /// Writes everything back and marks the disk clean (root capability).
    pub fn shutdown(&mut self) -> Result<(), Error> {
        invoke(&args(op::SHUTDOWN), self.slot).map(drop)
    }

    fn call(&self, a: &XnArgs) -> Result<u64, Error> {
        invoke(a, self.slot)
    }
}

impl XnCalls for Sys {
    fn cap(&self) -> u64 {
        self.cap
    }

    fn reserve_type(&mut self, name: &str) -> Result<TypeId, Error> {
        self.call(&with_name(args(op::RESERVE_TYPE), name))
            .map(|t| TypeId(t as u16))
    }

    fn install_mount(
        &mut self,
        name: &str,
        db: Option<Db>,
        nblocks: u64,
        kind: MountKind,
        init: Init,
    ) -> Result<Db, Error> {
        let mut a = with_name(args(op::INSTALL_MOUNT), name);
        a.a = db.unwrap_or(x::NONE);
        a.b = nblocks;
        if let MountKind::Root { ty, temporary } = kind {
            a.flags |= x::KIND_ROOT | if temporary { x::TEMPORARY } else { 0 };
            a.upd.ty = ty.0;
        }
        set_init(&mut a, &init);
        self.call(&a)
    }

    fn type_import(&mut self, name: &str) -> Result<TypeId, Error> {
        self.call(&with_name(args(op::TYPE_IMPORT), name))
            .map(|t| TypeId(t as u16))
    }

    fn lookup(&mut self, name: &str) -> Result<CatEntry, Error> {
        let mut e = XnCatEntry::default();
        let mut a = with_name(args(op::LOOKUP), name);
        a.buf_ptr = &mut e as *mut _ as u64;
        a.buf_len = core::mem::size_of::<XnCatEntry>() as u64;
        self.call(&a)?;
        Ok(CatEntry {
            slot: e.slot as usize,
            db: e.db,
            nblocks: e.nblocks,
            ty: TypeId(e.ty),
            is_root: e.is_root != 0,
            tainted: e.tainted != 0,
        })
    }

    fn mount(&mut self, name: &str) -> Result<(), Error> {
        self.call(&with_name(args(op::MOUNT), name)).map(drop)
    }

    fn read_and_insert(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        let mut a = args(op::READ_AND_INSERT);
        (a.a, a.b) = (db, n);
        self.call(&a)
    }

    fn insert_attr(&mut self, parent: Db, u: Update) -> Result<(), Error> {
        let mut a = args(op::INSERT_ATTR);
        (a.a, a.upd) = (parent, upd(u));
        self.call(&a).map(drop)
    }

    fn alloc(&mut self, parent: Db, u: Update, mv: &[Mod], init: Init) -> Result<(), Error> {
        let m = mods(mv);
        let mut a = args(op::ALLOC);
        (a.a, a.upd) = (parent, upd(u));
        (a.mv_ptr, a.mv_len) = (m.as_ptr() as u64, m.len() as u64);
        set_init(&mut a, &init);
        self.call(&a).map(drop)
    }

    fn free(&mut self, parent: Db, u: Update, mv: &[Mod], kid_mv: &[Mod]) -> Result<(), Error> {
        let (m, k) = (mods(mv), mods(kid_mv));
        let mut a = args(op::FREE);
        (a.a, a.upd) = (parent, upd(u));
        (a.mv_ptr, a.mv_len) = (m.as_ptr() as u64, m.len() as u64);
        (a.mv2_ptr, a.mv2_len) = (k.as_ptr() as u64, k.len() as u64);
        self.call(&a).map(drop)
    }

    fn add_edge(
        &mut self,
        src: Db,
        own_id: u32,
        src_mv: &[Mod],
        dst: Db,
        dst_mv: &[Mod],
    ) -> Result<(), Error> {
        let (m, d) = (mods(src_mv), mods(dst_mv));
        let mut a = args(op::ADD_EDGE);
        (a.a, a.b, a.c) = (src, dst, own_id as u64);
        (a.mv_ptr, a.mv_len) = (m.as_ptr() as u64, m.len() as u64);
        (a.mv2_ptr, a.mv2_len) = (d.as_ptr() as u64, d.len() as u64);
        self.call(&a).map(drop)
    }

    fn readb(&mut self, db: Db, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        let mut a = args(op::READB);
        (a.a, a.b) = (db, offset as u64);
        (a.buf_ptr, a.buf_len) = (out.as_mut_ptr() as u64, out.len() as u64);
        self.call(&a).map(drop)
    }

    fn writeb(&mut self, db: Db, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        let mut a = args(op::WRITEB);
        (a.a, a.b) = (db, offset as u64);
        (a.buf_ptr, a.buf_len) = (bytes.as_ptr() as u64, bytes.len() as u64);
        self.call(&a).map(drop)
    }

    fn writeback(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        let mut a = args(op::WRITEBACK);
        (a.a, a.b) = (db, n);
        self.call(&a)
    }

    fn find_free(&mut self, hint: Db, n: u64) -> Option<Db> {
        let mut a = args(op::FIND_FREE);
        (a.a, a.b) = (hint, n);
        self.call(&a).ok()
    }

    fn udf_enum(&mut self, db: Db, b: u32, e: u32) -> Result<Vec<Update>, Error> {
        let mut out = vec![XnUpdate::default(); x::MAX_ENUM];
        let mut a = args(op::UDF_ENUM);
        (a.a, a.b, a.c) = (db, b as u64, e as u64);
        a.buf_ptr = out.as_mut_ptr() as u64;
        a.buf_len = (out.len() * core::mem::size_of::<XnUpdate>()) as u64;
        let n = self.call(&a)? as usize;
        Ok(out[..n.min(out.len())]
            .iter()
            .map(|u| Update {
                own_id: u.own_id,
                db: u.db,
                nblocks: u.nblocks,
                ty: TypeId(u.ty),
            })
            .collect())
    }

    fn read_attr(&mut self, db: Db) -> Option<XrAttr> {
        let mut attr = XrAttr {
            db: 0,
            parent: 0,
            page: 0,
            locked_by: 0,
            ty: 0,
            state: 0,
            root: 0,
            _pad: 0,
        };
        let mut a = args(op::READ_ATTR);
        a.a = db;
        a.buf_ptr = &mut attr as *mut _ as u64;
        a.buf_len = core::mem::size_of::<XrAttr>() as u64;
        self.call(&a).ok().map(|_| attr)
    }

    fn list_writeable(&mut self) -> Vec<Db> {
        let mut out = vec![0u64; x::MAX_ENUM];
        let mut a = args(op::LIST_WRITEABLE);
        a.buf_ptr = out.as_mut_ptr() as u64;
        a.buf_len = (out.len() * 8) as u64;
        let n = self.call(&a).unwrap_or(0) as usize;
        out.truncate(n.min(x::MAX_ENUM));
        out
    }

    fn get_refcnt(&mut self, db: Db) -> Result<Option<u64>, Error> {
        let mut a = args(op::GET_REFCNT);
        a.a = db;
        self.call(&a).map(|n| (n != u64::MAX).then_some(n))
    }
}
