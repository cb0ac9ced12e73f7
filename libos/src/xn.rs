//! XN from an environment: [`XnCalls`] over the kernel's XN system call, so
//! a library file system written against the trait runs here unchanged.
//! Every call presents the capability in `slot`.

use alloc::vec;
use alloc::vec::Vec;
use exo_abi::syscall::arg::{CapSlot, UserArray, UserBytes, UserRef};
use exo_abi::syscall::{args, Error as SysError};
use exo_abi::xn::{self as x, XnCall, XnCatEntry, XnMod, XnRoot, XnUpdate};
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

/// `db`'s registry entry as the window shows it, read without a call:
/// `Some(Some(_))` cached, `Some(None)` not in the registry, `None` if the
/// window cannot tell (it holds only part of a large registry). The kernel
/// refreshes the window after every call that changes the registry, so it
/// is as current as a `read_attr` call; a refresh while we read (we were
/// preempted) is seen in the generation and the read is done again.
fn window_attr(db: Db) -> Option<Option<XrAttr>> {
    use core::sync::atomic::{compiler_fence, Ordering::SeqCst};
    use exo_abi::layout::UXNREG;
    use exo_abi::xn::RegistryHeader;
    let header = || {
        // SAFETY: the window's header, mapped read-only in every environment.
        unsafe { (UXNREG as *const RegistryHeader).read_volatile() }
    };
    loop {
        let h = header();
        compiler_fence(SeqCst);
        let entries = registry();
        let found = entries
            .binary_search_by_key(&db, |a| a.db)
            .ok()
            .map(|i| entries[i]);
        compiler_fence(SeqCst);
        if header().generation != h.generation {
            continue;
        }
        return match found {
            Some(a) => Some(Some(a)),
            None if h.count >= h.total => Some(None),
            None => None,
        };
    }
}

impl Sys {
    /// Maps cached block `db`'s page read-only at `va` here, if its acl-uf
    /// lets us read it (XN's secure binding; `map_block` keeps a window of
    /// them).
    pub fn bind(&mut self, db: Db, va: u64) -> Result<(), Error> {
        invoke(XnCall::Map { db, va }, self.slot).map(drop)
    }

    /// Holds cached block `db` (which we may write) for a multi-step
    /// update: others cannot change, write back or evict it until `unlock`
    /// or until we end.
    pub fn lock(&mut self, db: Db) -> Result<(), Error> {
        invoke(XnCall::Lock { db }, self.slot).map(drop)
    }

    pub fn unlock(&mut self, db: Db) -> Result<(), Error> {
        invoke(XnCall::Unlock { db }, self.slot).map(drop)
    }

    /// Evicts clean cached blocks `[db, db + n)` that we may write (the
    /// application choosing what leaves the cache).
    pub fn delete_attr(&mut self, db: Db, n: u64) -> Result<(), Error> {
        invoke(XnCall::DeleteAttr { db, n }, self.slot).map(drop)
    }

    /// Where `map_block` maps `db`.
    pub fn window_va(db: Db) -> u64 {
        use crate::layout::{XN_MAP_BASE, XN_MAP_SLOTS};
        XN_MAP_BASE + db % XN_MAP_SLOTS * 4096
    }
}

/// Which block each slot of the mapping window was last bound to (see
/// `Sys::map_block`); a forked child has the table but not the mappings,
/// and binds again.
static MAPPED: crate::cell::Exclusive<[Db; crate::layout::XN_MAP_SLOTS as usize]> =
    crate::cell::Exclusive::new([0; crate::layout::XN_MAP_SLOTS as usize]);

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
        SysError::NoMem | SysError::Quota => Error::NoSpace,
        SysError::Busy => Error::InUse,
        _ => Error::BadRange,
    }
}

fn invoke(call: XnCall, slot: usize) -> Result<u64, Error> {
    let a = call.encode();
    let (r, code) = crate::sys::invoke_raw(&args::Xn {
        args: UserRef::of(&a),
        cap: CapSlot::of(slot),
    });
    r.map_err(|e| xn_error(e, code))
}

fn name(n: &str) -> x::XnName {
    UserBytes::of(n.as_bytes())
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

/// A modification vector as the kernel reads it (the bytes stay where they are).
fn mods(mv: &[Mod]) -> Vec<XnMod> {
    mv.iter()
        .map(|m| XnMod {
            offset: m.offset as u64,
            ptr: m.bytes.as_ptr() as u64,
            len: m.bytes.len() as u64,
        })
        .collect()
}

fn init_bytes(init: &Init) -> Option<x::BlockBytes> {
    match init {
        Init::Bytes(b) => Some(UserBytes::of(b)),
        Init::Zero => None,
    }
}

impl Sys {
    /// XN as the holder of the capability in `slot`.
    pub fn new(slot: usize) -> Result<Sys, Error> {
        let cap = invoke(XnCall::CapValue, slot)?;
        Ok(Sys { slot, cap })
    }

    /// Formats the disk for XN (root capability; `force` even over XN).
    pub fn format(&mut self, force: bool) -> Result<(), Error> {
        self.call(XnCall::Format { force }).map(drop)
    }

    /// Blocks of the XN disk.
    pub fn nblocks(&mut self) -> Result<u64, Error> {
        self.call(XnCall::Info)
    }

    /// `read_and_insert` into our own pages (physical page numbers of pages
    /// we own and do not map): they belong to the kernel while XN caches the
    /// blocks; pages XN did not need come back.
    pub fn read_and_insert_into(&mut self, db: Db, ppns: &[u64]) -> Result<u64, Error> {
        self.call(XnCall::ReadAndInsert {
            db,
            n: ppns.len() as u64,
            pages: Some(UserArray::of(ppns)),
        })
    }

    /// Writes everything back and marks the disk clean (root capability).
    pub fn shutdown(&mut self) -> Result<(), Error> {
        self.call(XnCall::Shutdown).map(drop)
    }

    /// Removes a root that owns nothing, or a type no cached block uses.
    pub fn uninstall_mount(&mut self, n: &str) -> Result<(), Error> {
        self.call(XnCall::UninstallMount { name: name(n) })
            .map(drop)
    }

    /// Binds a type's cached blocks as template blocks.
    pub fn type_mount(&mut self, n: &str) -> Result<(), Error> {
        self.call(XnCall::TypeMount { name: name(n) }).map(drop)
    }

    /// Takes an extent off the free map with no parent (root capability:
    /// for reconstruction programs).
    pub fn db_alloc(&mut self, db: Db, n: u64) -> Result<(), Error> {
        self.call(XnCall::DbAlloc { db, n }).map(drop)
    }

    fn call(&self, c: XnCall) -> Result<u64, Error> {
        invoke(c, self.slot)
    }
}

impl XnCalls for Sys {
    fn cap(&self) -> u64 {
        self.cap
    }

    fn reserve_type(&mut self, n: &str) -> Result<TypeId, Error> {
        self.call(XnCall::ReserveType { name: name(n) })
            .map(|t| TypeId(t as u16))
    }

    fn install_mount(
        &mut self,
        n: &str,
        db: Option<Db>,
        nblocks: u64,
        kind: MountKind,
        init: Init,
    ) -> Result<Db, Error> {
        let root = match kind {
            MountKind::Root { ty, temporary } => Some(XnRoot {
                ty: ty.0,
                temporary,
            }),
            MountKind::Type => None,
        };
        self.call(XnCall::InstallMount {
            name: name(n),
            db,
            nblocks,
            root,
            init: init_bytes(&init),
        })
    }

    fn type_import(&mut self, n: &str) -> Result<TypeId, Error> {
        self.call(XnCall::TypeImport { name: name(n) })
            .map(|t| TypeId(t as u16))
    }

    fn lookup(&mut self, n: &str) -> Result<CatEntry, Error> {
        let mut e = XnCatEntry::default();
        self.call(XnCall::Lookup {
            name: name(n),
            out: UserRef::of_mut(&mut e),
        })?;
        Ok(CatEntry {
            slot: e.slot as usize,
            db: e.db,
            nblocks: e.nblocks,
            ty: TypeId(e.ty),
            is_root: e.is_root != 0,
            tainted: e.tainted != 0,
        })
    }

    fn mount(&mut self, n: &str) -> Result<(), Error> {
        self.call(XnCall::Mount { name: name(n) }).map(drop)
    }

    fn read_and_insert(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        self.call(XnCall::ReadAndInsert { db, n, pages: None })
    }

    fn insert_attr(&mut self, parent: Db, u: Update) -> Result<(), Error> {
        self.call(XnCall::InsertAttr {
            parent,
            upd: upd(u),
        })
        .map(drop)
    }

    fn alloc(&mut self, parent: Db, u: Update, mv: &[Mod], init: Init) -> Result<(), Error> {
        let m = mods(mv);
        self.call(XnCall::Alloc {
            parent,
            upd: upd(u),
            mods: UserArray::of(&m),
            init: init_bytes(&init),
        })
        .map(drop)
    }

    fn free(&mut self, parent: Db, u: Update, mv: &[Mod], kid_mv: &[Mod]) -> Result<(), Error> {
        let (m, k) = (mods(mv), mods(kid_mv));
        self.call(XnCall::Free {
            parent,
            upd: upd(u),
            mods: UserArray::of(&m),
            child_mods: UserArray::of(&k),
        })
        .map(drop)
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
        self.call(XnCall::AddEdge {
            src,
            dst,
            own_id,
            src_mods: UserArray::of(&m),
            dst_mods: UserArray::of(&d),
        })
        .map(drop)
    }

    /// XN's own page of `db`, mapped read-only in the slot of the window
    /// its number picks (a block bound there before, whose page is still
    /// mapped, is used as it is: XN unmaps a page before it leaves the
    /// cache, so a mapped page still holds its block).
    fn map_block(&mut self, db: Db) -> Option<&exo_xn::Block> {
        let slot = (db % crate::layout::XN_MAP_SLOTS) as usize;
        let va = Sys::window_va(db);
        let bound = MAPPED.try_with(|m| m[slot] == db)?;
        if !bound || crate::info::pte(va) & exo_abi::layout::pte::PRESENT == 0 {
            self.bind(db, va).ok()?;
            if MAPPED.try_with(|m| m[slot] = db).is_none() {
                // Not recorded: the mapping must not outlive this call.
                let _ = crate::vm::unmap(va);
                return None;
            }
        }
        // SAFETY: `va` maps, read-only, the cache page that holds `db` (XN
        // unmaps it before the page leaves the cache); nothing here writes
        // it, and the kernel's writes to it are the block's new contents.
        Some(unsafe { &*(va as *const exo_xn::Block) })
    }

    fn readb(&mut self, db: Db, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        self.call(XnCall::ReadB {
            db,
            offset: offset as u64,
            out: UserBytes::of_mut(out),
        })
        .map(drop)
    }

    fn writeb(&mut self, db: Db, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        self.call(XnCall::WriteB {
            db,
            offset: offset as u64,
            bytes: UserBytes::of(bytes),
        })
        .map(drop)
    }

    fn writeback(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        self.call(XnCall::Writeback { db, n })
    }

    fn find_free(&mut self, hint: Db, n: u64) -> Option<Db> {
        self.call(XnCall::FindFree { hint, n }).ok()
    }

    fn udf_enum(&mut self, db: Db, b: u32, e: u32) -> Result<Vec<Update>, Error> {
        let mut out = vec![XnUpdate::default(); x::MAX_ENUM];
        let n = self.call(XnCall::UdfEnum {
            db,
            first: b,
            end: e,
            out: UserArray::of_mut(&mut out),
        })? as usize;
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
        if let Some(known) = window_attr(db) {
            return known;
        }
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
        // SAFETY: XrAttr is plain repr(C) integers: any bytes the kernel
        // writes into it form a valid value, and the slice covers exactly it.
        let out = unsafe {
            core::slice::from_raw_parts_mut(
                &mut attr as *mut XrAttr as *mut u8,
                core::mem::size_of::<XrAttr>(),
            )
        };
        self.call(XnCall::ReadAttr {
            db,
            out: UserBytes::of_mut(out),
        })
        .ok()
        .map(|_| attr)
    }

    fn list_writeable(&mut self) -> Vec<Db> {
        let mut out = vec![0u64; x::MAX_ENUM];
        let n = self
            .call(XnCall::ListWriteable {
                out: UserArray::of_mut(&mut out),
            })
            .unwrap_or(0) as usize;
        out.truncate(n.min(x::MAX_ENUM));
        out
    }

    fn get_refcnt(&mut self, db: Db) -> Result<Option<u64>, Error> {
        self.call(XnCall::GetRefcnt { db })
            .map(|n| (n != x::NO_REFCNT).then_some(n))
    }
}
