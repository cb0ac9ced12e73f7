//! The XN façade: one XN-controlled disk, its bookkeeping, and the thesis' ch. 8
//! operations (`sys_xn_*`) as methods. The kernel wraps each method in a system call,
//! mapping its capabilities to [`Cred`]; principals here are just the caller's identity.
//!
//! Initialization and the catalogue operations are here; metadata operations (alloc,
//! free, add_edge) are in `ops.rs`; registry and I/O operations in `io.rs`.

use crate::catalogue::{self, Catalogue, Entry, Kind, Types};
use crate::disk::Disk;
use crate::error::Error;
use crate::freemap::FreeMap;
use crate::layout::Superblock;
use crate::owns::{self, OwnsSet};
use crate::registry::{self, state, PageStore, Registry, XrAttr};
use crate::taint::Taint;
use crate::template::{self, Template};
use crate::willfree::WillFree;
use crate::{Db, TypeId, BLOCK_SIZE};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// The caller: an environment and the capability it presents for this call. acl-ufs
/// see both; the catalogue compares `cap` with the entry's owner capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    pub env: u64,
    pub cap: u64,
}

/// Initial contents of newly allocated blocks.
#[derive(Clone, Copy, Debug)]
pub enum Init<'a> {
    Zero,
    /// Zero-padded to a block.
    Bytes(&'a [u8]),
}

impl Init<'_> {
    pub(crate) fn block(&self) -> Result<crate::Block, Error> {
        let mut b = [0u8; BLOCK_SIZE];
        if let Init::Bytes(src) = self {
            if src.len() > BLOCK_SIZE {
                return Err(Error::BadRange);
            }
            b[..src.len()].copy_from_slice(src);
        }
        Ok(b)
    }
}

/// One byte-range modification of a metadata block (`struct xn_m_vec`):
/// `memcpy(meta + offset, bytes, bytes.len())`.
#[derive(Clone, Copy, Debug)]
pub struct Mod<'a> {
    pub offset: usize,
    pub bytes: &'a [u8],
}

/// The extent an operation allocates, frees or binds (`struct xn_update`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// The owns partition whose output changes.
    pub own_id: u32,
    pub db: Db,
    pub nblocks: u64,
    pub ty: TypeId,
}

/// What `install_mount` installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// Raw blocks to hold a template, later `type_import`ed.
    Type,
    /// A file system root of type `ty`; `temporary` trees are volatile.
    Root { ty: TypeId, temporary: bool },
}

/// An XN-controlled disk.
pub struct Xn<D: Disk, P: PageStore> {
    pub(crate) disk: D,
    pub(crate) pages: P,
    pub(crate) sb: Superblock,
    pub(crate) cat: Catalogue,
    pub(crate) types: Types,
    pub(crate) free: FreeMap,
    pub(crate) reg: Registry,
    pub(crate) taint: Taint,
    pub(crate) willfree: WillFree,
    /// On-disk owns of blocks waiting on the will-free list (freed when they are).
    pub(crate) pending_owns: BTreeMap<Db, OwnsSet>,
    /// Blocks of temporary trees: released at shutdown, never persistent.
    pub(crate) temp_blocks: BTreeSet<Db>,
    pub(crate) read_only: bool,
    pub(crate) clock: Option<fn() -> u64>,
}

impl<D: Disk, P: PageStore> Xn<D, P> {
    /// `sys_xn_format`: lay out an empty XN disk, then open it.
    pub fn format(mut disk: D, pages: P) -> Result<Self, Error> {
        let sb = Superblock::for_disk(disk.nblocks())?;
        FreeMap::formatted(&sb).store(&mut disk, &sb)?;
        Catalogue::new(&sb).store(&mut disk, &sb)?;
        disk.write(0, &sb.encode())?;
        disk.flush()?;
        Self::open(disk, pages)
    }

    /// `sys_xn_init`: open a cleanly shut down disk. Fails with [`Error::NeedsRecovery`]
    /// otherwise: run [`crate::recovery::reconstruct`] first.
    pub fn open(disk: D, pages: P) -> Result<Self, Error> {
        let mut xn = Self::load(disk, pages, false)?;
        if !xn.sb.clean {
            return Err(Error::NeedsRecovery);
        }
        // Mark the disk in use: a crash from here on forces reconstruction.
        xn.sb.clean = false;
        let sb = xn.sb.encode();
        xn.disk.write(0, &sb)?;
        xn.disk.flush()?;
        Ok(xn)
    }

    /// Open for inspection (host tools): nothing is ever written; an unclean disk is
    /// accepted (its free map may be stale; the trees are read as they are on disk).
    pub fn open_read_only(disk: D, pages: P) -> Result<Self, Error> {
        Self::load(disk, pages, true)
    }

    fn load(mut disk: D, pages: P, read_only: bool) -> Result<Self, Error> {
        if disk.nblocks() == 0 {
            return Err(Error::BadImage("empty disk"));
        }
        let mut b = [0u8; BLOCK_SIZE];
        disk.read(0, &mut b)?;
        let sb = Superblock::decode(&b, disk.nblocks())?;
        let free = FreeMap::load(&mut disk, &sb)?;
        let cat = Catalogue::load(&mut disk, &sb)?;
        let types = Types::load(&mut disk, &cat)?;
        Ok(Xn {
            disk,
            pages,
            sb,
            cat,
            types,
            free,
            reg: Registry::default(),
            taint: Taint::default(),
            willfree: WillFree::default(),
            pending_owns: BTreeMap::new(),
            temp_blocks: BTreeSet::new(),
            read_only,
            clock: None,
        })
    }

    /// `sys_xn_shutdown`: fails while persistent blocks are dirty (flush them first).
    /// Temporary trees vanish; the free map is written and the disk marked clean.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        self.writable()?;
        if self
            .reg
            .iter()
            .any(|a| a.has(state::DIRTY) && !a.has(state::TEMPORARY))
        {
            return Err(Error::Dirty);
        }
        for b in core::mem::take(&mut self.temp_blocks) {
            self.free.set(b, false);
        }
        let temp: Vec<usize> = self
            .cat
            .iter()
            .filter(|(_, e)| e.temporary)
            .map(|(s, _)| s)
            .collect();
        for s in temp {
            self.cat.remove(s);
        }
        self.free.store(&mut self.disk, &self.sb)?;
        self.cat.store(&mut self.disk, &self.sb)?;
        self.disk.flush()?;
        self.sb.clean = true;
        self.disk.write(0, &self.sb.encode())?;
        self.disk.flush()?;
        self.read_only = true;
        Ok(())
    }

    /// Give back the disk and page store (after shutdown, or to simulate a crash).
    pub fn into_parts(self) -> (D, P) {
        (self.disk, self.pages)
    }

    /// The clock `TIME` reads in acl-uf and size-uf.
    pub fn set_clock(&mut self, f: fn() -> u64) {
        self.clock = Some(f);
    }

    pub(crate) fn writable(&self) -> Result<(), Error> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    // ---- Read-only views (the structures XN maps read-only into environments) ----

    /// `sys_xn_info` / `sys_root`: where the superblock says everything is.
    pub fn info(&self) -> &Superblock {
        &self.sb
    }
    /// `sys_xn_read_catalogue`.
    pub fn catalogue(&self) -> &Catalogue {
        &self.cat
    }
    pub fn freemap(&self) -> &FreeMap {
        &self.free
    }
    pub fn registry(&self) -> &Registry {
        &self.reg
    }
    /// `sys_xn_read_attr`.
    pub fn read_attr(&self, db: Db) -> Option<XrAttr> {
        self.reg.get(db).copied()
    }
    pub fn template(&self, t: TypeId) -> Option<&Template> {
        self.types.get(t)
    }
    /// Blocks waiting on the will-free list, with their outstanding on-disk pointers.
    pub fn will_free(&self) -> Vec<(Db, u32)> {
        self.willfree.iter().collect()
    }
    pub fn is_tainted(&self, db: Db) -> bool {
        self.taint.is_tainted(db)
    }

    /// `sys_xn_findfree`: first free extent of `n` blocks from `hint` (0: XN chooses).
    pub fn find_free(&self, hint: Db, n: u64) -> Option<Db> {
        let hint = hint.max(self.sb.data_start);
        self.free
            .find_free(hint, n)
            .filter(|&b| b >= self.sb.data_start)
    }

    /// `sys_xn_list_writeable`: dirty blocks a writeback would accept now.
    pub fn list_writeable(&self) -> Vec<Db> {
        self.reg
            .iter()
            .filter(|a| a.has(state::DIRTY) && a.page().is_some())
            .filter(|a| a.has(state::TEMPORARY) || !self.taint.is_tainted(a.db))
            .map(|a| a.db)
            .collect()
    }

    // ---- Catalogue operations (§8 B.1, B.2) ----

    /// `sys_reserve_type`: hold a name and its type id for a type defined later
    /// (mutually recursive types need each other's ids in their owns-udfs).
    pub fn reserve_type(&mut self, cred: Cred, name: &str) -> Result<TypeId, Error> {
        self.writable()?;
        if !catalogue::valid_name(name) {
            return Err(Error::BadName);
        }
        if self.cat.find(name).is_some() {
            return Err(Error::Exists);
        }
        let e = Entry {
            name: name.into(),
            kind: Kind::Reserved,
            db: 0,
            nblocks: 0,
            cap: cred.cap,
            temporary: false,
            tainted: false,
        };
        let slot = self.cat.insert(e)?;
        self.cat.store(&mut self.disk, &self.sb)?;
        Ok(TypeId::from_slot(slot))
    }

    /// `sys_install_mount`: allocate an extent (at `db`, or where XN chooses) and name it
    /// in the root catalogue, as a type under construction or a file system root. A root
    /// starts as `init`, which must own nothing (the initial-state check of §4.1); a
    /// persistent root is written to disk *before* the catalogue entry that points to it.
    pub fn install_mount(
        &mut self,
        cred: Cred,
        name: &str,
        db: Option<Db>,
        nblocks: u64,
        kind: MountKind,
        init: Init,
    ) -> Result<Db, Error> {
        self.writable()?;
        if !catalogue::valid_name(name) {
            return Err(Error::BadName);
        }
        let max = if kind == MountKind::Type {
            template::MAX_BLOCKS as u64
        } else {
            64
        };
        if nblocks == 0 || nblocks > max {
            return Err(Error::BadRange);
        }
        let reuse = match self.cat.find(name) {
            Some((slot, e)) if e.kind == Kind::Reserved && kind == MountKind::Type => {
                if e.cap != cred.cap {
                    return Err(Error::AccessDenied);
                }
                Some(slot)
            }
            Some(_) => return Err(Error::Exists),
            None => None,
        };
        let (ty, temporary) = match kind {
            MountKind::Type => (TypeId::TYPE, false),
            MountKind::Root { ty, temporary } => (ty, temporary),
        };
        let img = init.block()?;
        let tpl = match kind {
            MountKind::Type => None,
            MountKind::Root { ty, .. } => Some(self.types.get(ty).ok_or(Error::BadType)?),
        };
        let db = match db {
            Some(db) => db,
            None => self.find_free(0, nblocks).ok_or(Error::NoSpace)?,
        };
        self.check_extent(db, nblocks)?;
        if let Some(t) = tpl {
            for b in db..db + nblocks {
                if !owns::owns_set(t, &img, b)?.is_empty() {
                    return Err(Error::BogusUpdate);
                }
            }
        }
        let pages = self.alloc_pages(nblocks)?;
        let entry = Entry {
            name: name.into(),
            kind: Kind::Extent,
            db,
            nblocks,
            cap: cred.cap,
            temporary,
            tainted: false,
        };
        let entry = Entry {
            kind: if let MountKind::Root { ty, .. } = kind {
                Kind::Root(ty)
            } else {
                Kind::Extent
            },
            ..entry
        };
        let slot = match reuse {
            Some(s) => {
                if let Some(e) = self.cat.get_mut(s) {
                    *e = entry;
                }
                s
            }
            None => match self.cat.insert(entry) {
                Ok(s) => s,
                Err(e) => {
                    pages.iter().for_each(|&p| self.pages.free(p));
                    return Err(e);
                }
            },
        };
        let is_root = matches!(kind, MountKind::Root { .. });
        for (i, b) in (db..db + nblocks).enumerate() {
            self.free.set(b, true);
            if let Some(p) = self.pages.page_mut(pages[i]) {
                *p = if is_root { img } else { [0; BLOCK_SIZE] };
            }
            let mut st = 0;
            if temporary {
                st |= state::TEMPORARY | state::DIRTY;
                self.temp_blocks.insert(b);
            } else if !is_root {
                st |= state::DIRTY;
            }
            let mut attr = Registry::new_attr(b, ty, st);
            attr.page = pages[i];
            attr.root = slot as u16;
            let disk_owns = Some(OwnsSet::new());
            self.reg.insert(registry::Entry { attr, disk_owns });
            if is_root && !temporary {
                self.disk.write(b, &img)?;
            }
        }
        if !temporary {
            self.disk.flush()?;
            self.cat.store(&mut self.disk, &self.sb)?;
        }
        Ok(db)
    }

    /// `sys_type_import`: turn a written extent into a type, after verifying its
    /// template (UDFs bounded and deterministic where required, sane partitions).
    pub fn type_import(&mut self, cred: Cred, name: &str) -> Result<TypeId, Error> {
        self.writable()?;
        let (slot, e) = self.cat.find(name).ok_or(Error::NoSuchName)?;
        if e.kind != Kind::Extent {
            return Err(Error::BadType);
        }
        if e.cap != cred.cap {
            return Err(Error::AccessDenied);
        }
        let (db, n) = (e.db, e.nblocks);
        let mut bytes = Vec::with_capacity(n as usize * BLOCK_SIZE);
        for b in db..db + n {
            let a = self.reg.get(b).ok_or(Error::NotInCore)?;
            // Only what is on disk becomes the type: it must have been written back.
            if a.has(state::DIRTY) {
                return Err(Error::Dirty);
            }
            bytes.extend_from_slice(self.page_of(b)?);
        }
        let tpl = Template::parse(&bytes)?;
        tpl.verify()?;
        let ty = TypeId::from_slot(slot);
        self.types.insert(ty, tpl);
        if let Some(e) = self.cat.get_mut(slot) {
            e.kind = Kind::Type;
        }
        self.cat.store(&mut self.disk, &self.sb)?;
        Ok(ty)
    }

    /// `sys_xn_mount`: bind a root's cached blocks (read them with `read_and_insert`
    /// first) to the root's type; from there `insert_attr` types the rest of the tree.
    pub fn mount(&mut self, name: &str) -> Result<Entry, Error> {
        let (slot, e) = self.cat.find(name).ok_or(Error::NoSuchName)?;
        let Kind::Root(ty) = e.kind else {
            return Err(Error::BadType);
        };
        if e.tainted {
            return Err(Error::RootTainted);
        }
        let e = e.clone();
        self.bind_extent(slot, e.db, e.nblocks, ty)?;
        Ok(e)
    }

    /// `sys_type_mount`: bind a type's cached blocks as template blocks.
    pub fn type_mount(&mut self, name: &str) -> Result<Entry, Error> {
        let (slot, e) = self.cat.find(name).ok_or(Error::NoSuchName)?;
        if e.kind != Kind::Type {
            return Err(Error::BadType);
        }
        let e = e.clone();
        self.bind_extent(slot, e.db, e.nblocks, TypeId::TYPE)?;
        Ok(e)
    }

    fn bind_extent(&mut self, slot: usize, db: Db, n: u64, ty: TypeId) -> Result<(), Error> {
        for b in db..db + n {
            let a = self.reg.get(b).ok_or(Error::NotInCore)?;
            if a.ty != TypeId::UNKNOWN.0 && a.ty != ty.0 {
                return Err(Error::BadType);
            }
        }
        for b in db..db + n {
            if let Some(e) = self.reg.entry_mut(b) {
                e.attr.ty = ty.0;
                e.attr.root = slot as u16;
                e.attr.parent = registry::NONE;
            }
            self.refresh_disk_owns(b);
        }
        Ok(())
    }

    /// `sys_uninstall_mount`: remove a root that owns nothing, or a type no cached block uses.
    pub fn uninstall_mount(&mut self, cred: Cred, name: &str) -> Result<(), Error> {
        self.writable()?;
        let (slot, e) = self.cat.find(name).ok_or(Error::NoSuchName)?;
        if e.cap != cred.cap {
            return Err(Error::AccessDenied);
        }
        let e = e.clone();
        match e.kind {
            Kind::Root(ty) => {
                let tpl = self.types.get(ty).ok_or(Error::BadType)?;
                for b in e.db..e.db + e.nblocks {
                    let page = self.page_of(b)?;
                    if !owns::owns_set(tpl, page, b)?.is_empty() {
                        return Err(Error::NotEmpty);
                    }
                }
            }
            Kind::Type => {
                let ty = TypeId::from_slot(slot);
                let roots_use = self.cat.iter().any(|(_, r)| r.kind == Kind::Root(ty));
                if roots_use || self.reg.iter().any(|a| a.ty == ty.0) {
                    return Err(Error::InUse);
                }
                self.types.remove(ty);
            }
            Kind::Extent | Kind::Reserved => {}
        }
        self.cat.remove(slot);
        if !e.temporary {
            // The catalogue stops pointing to the extent before the extent is reused.
            self.cat.store(&mut self.disk, &self.sb)?;
            self.disk.flush()?;
        }
        for b in e.db..e.db + e.nblocks {
            if let Some(old) = self.reg.remove(b) {
                if let Some(p) = old.attr.page() {
                    self.pages.free(p);
                }
            }
            self.taint.forget(b);
            self.temp_blocks.remove(&b);
            self.free.set(b, false);
        }
        Ok(())
    }

    // ---- Navigation (§8 B.6) ----

    /// `sys_xn_get_refcnt`: `None` for types without reference counts.
    pub fn get_refcnt(&self, db: Db) -> Result<Option<u64>, Error> {
        let (_, tpl) = self.meta_template(db)?;
        Ok(owns::refcnt(tpl, self.page_of(db)?, db)?.map(|(n, _)| n))
    }

    /// `sys_xn_get_nowns`: the number of owns partitions of the block's type.
    pub fn get_nowns(&self, db: Db) -> Result<u32, Error> {
        Ok(self.meta_template(db)?.1.nparts)
    }

    /// `sys_xn_udf_enum`: the typed extents partitions `[b, e)` of `db` control.
    pub fn udf_enum(&self, db: Db, b: u32, e: u32) -> Result<Vec<Update>, Error> {
        let (_, tpl) = self.meta_template(db)?;
        let page = self.page_of(db)?;
        let mut out = Vec::new();
        for p in b..e.min(tpl.nparts) {
            for (&blk, &ty) in owns::run_part(tpl, page, db, p)?.owned.iter() {
                match out.last_mut() {
                    Some(Update {
                        own_id,
                        db: d,
                        nblocks,
                        ty: t,
                    }) if *own_id == p && *t == ty && *d + *nblocks == blk => *nblocks += 1,
                    _ => out.push(Update {
                        own_id: p,
                        db: blk,
                        nblocks: 1,
                        ty,
                    }),
                }
            }
        }
        Ok(out)
    }

    /// size-uf of a cached metadata block.
    pub fn size_of(&self, db: Db) -> Result<u64, Error> {
        let (_, tpl) = self.meta_template(db)?;
        let clock = self.clock.as_ref().map(|f| f as &dyn Fn() -> u64);
        Ok(owns::size(tpl, self.page_of(db)?, db, clock)?)
    }

    // ---- Privileged (§8 A.2) ----

    /// `sys_db_alloc`: force an extent off the free list (reconstruction programs).
    pub fn db_alloc(&mut self, db: Db, n: u64) -> Result<(), Error> {
        self.writable()?;
        self.check_extent(db, n)?;
        (db..db + n).for_each(|b| self.free.set(b, true));
        Ok(())
    }

    /// The extent is on the disk, outside XN's area, and free.
    pub(crate) fn check_extent(&self, db: Db, n: u64) -> Result<(), Error> {
        let end = db.checked_add(n).ok_or(Error::BadBlock)?;
        if n == 0 || db < self.sb.data_start || end > self.sb.nblocks {
            return Err(Error::BadBlock);
        }
        let busy =
            |b: Db| !self.free.is_free(b) || self.willfree.contains(b) || self.reg.get(b).is_some();
        if (db..end).any(busy) {
            return Err(Error::NotFree);
        }
        Ok(())
    }

    pub(crate) fn alloc_pages(&mut self, n: u64) -> Result<Vec<registry::PageId>, Error> {
        let mut v = Vec::new();
        for _ in 0..n {
            match self.pages.alloc() {
                Some(p) => v.push(p),
                None => {
                    v.iter().for_each(|&p| self.pages.free(p));
                    return Err(Error::NoSpace);
                }
            }
        }
        Ok(v)
    }
}
