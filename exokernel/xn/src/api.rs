//! The XN calls an untrusted library file system makes (thesis ch. 8), as
//! one trait: the kernel's system calls implement it in the guest
//! (`libos::xn`), [`Direct`] implements it on the host over an [`Xn`] with a
//! fixed caller, so a libFS is written and tested once against both.
//! Every call is checked by XN exactly as the method it forwards to.

use crate::catalogue::Kind;
use crate::disk::Disk;
use crate::error::Error;
use crate::registry::{PageStore, XrAttr};
use crate::xn::{Cred, Init, Mod, MountKind, Update, Xn};
use crate::{Block, Db, TypeId};
use alloc::vec::Vec;

/// A root catalogue entry as a libFS sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatEntry {
    pub slot: usize,
    pub db: Db,
    pub nblocks: u64,
    /// The root's type (roots), or the type id the entry defines (types).
    pub ty: TypeId,
    pub is_root: bool,
    pub tainted: bool,
}

pub trait XnCalls {
    /// The caller's capability value: what a libFS writes as "owner" into the
    /// metadata its acl-ufs check.
    fn cap(&self) -> u64;
    fn reserve_type(&mut self, name: &str) -> Result<TypeId, Error>;
    fn install_mount(
        &mut self,
        name: &str,
        db: Option<Db>,
        nblocks: u64,
        kind: MountKind,
        init: Init,
    ) -> Result<Db, Error>;
    fn type_import(&mut self, name: &str) -> Result<TypeId, Error>;
    /// The catalogue entry called `name`.
    fn lookup(&mut self, name: &str) -> Result<CatEntry, Error>;
    fn mount(&mut self, name: &str) -> Result<(), Error>;
    fn read_and_insert(&mut self, db: Db, n: u64) -> Result<u64, Error>;
    fn insert_attr(&mut self, parent: Db, u: Update) -> Result<(), Error>;
    fn alloc(&mut self, parent: Db, u: Update, mv: &[Mod], init: Init) -> Result<(), Error>;
    fn free(&mut self, parent: Db, u: Update, mv: &[Mod], kid_mv: &[Mod]) -> Result<(), Error>;
    fn add_edge(
        &mut self,
        src: Db,
        own_id: u32,
        src_mv: &[Mod],
        dst: Db,
        dst_mv: &[Mod],
    ) -> Result<(), Error>;
    fn readb(&mut self, db: Db, offset: usize, out: &mut [u8]) -> Result<(), Error>;
    /// Cached block `db` mapped read-only for this caller, its acl-uf
    /// checked when the page is bound rather than at each read; it shows
    /// every later change to the block. None where the block cannot be
    /// mapped (or the caller maps nothing): then `readb`.
    fn map_block(&mut self, db: Db) -> Option<&Block> {
        let _ = db;
        None
    }
    fn writeb(&mut self, db: Db, offset: usize, bytes: &[u8]) -> Result<(), Error>;
    /// Writes cached blocks `[db, db + n)` to disk in XN's safe order; returns
    /// how many were written.
    fn writeback(&mut self, db: Db, n: u64) -> Result<u64, Error>;
    fn find_free(&mut self, hint: Db, n: u64) -> Option<Db>;
    /// What `db`'s owns-udf emits for partitions `b..e`.
    fn udf_enum(&mut self, db: Db, b: u32, e: u32) -> Result<Vec<Update>, Error>;
    fn read_attr(&mut self, db: Db) -> Option<XrAttr>;
    fn get_refcnt(&mut self, db: Db) -> Result<Option<u64>, Error>;
    /// Dirty blocks that may be written back now (XN's ordering rules hold).
    fn list_writeable(&mut self) -> Vec<Db>;
}

/// The calls made directly on an [`Xn`] as caller `cred` (host tests, tools).
pub struct Direct<'a, D: Disk, P: PageStore> {
    pub xn: &'a mut Xn<D, P>,
    pub cred: Cred,
}

/// The catalogue entry called `name` of `xn`.
pub fn lookup<D: Disk, P: PageStore>(xn: &Xn<D, P>, name: &str) -> Result<CatEntry, Error> {
    let (slot, e) = xn.catalogue().find(name).ok_or(Error::NoSuchName)?;
    let (ty, is_root) = match e.kind {
        Kind::Root(t) => (t, true),
        _ => (TypeId::from_slot(slot), false),
    };
    Ok(CatEntry {
        slot,
        db: e.db,
        nblocks: e.nblocks,
        ty,
        is_root,
        tainted: e.tainted,
    })
}

impl<D: Disk, P: PageStore> XnCalls for Direct<'_, D, P> {
    fn cap(&self) -> u64 {
        self.cred.cap
    }
    fn reserve_type(&mut self, name: &str) -> Result<TypeId, Error> {
        self.xn.reserve_type(self.cred, name)
    }
    fn install_mount(
        &mut self,
        name: &str,
        db: Option<Db>,
        nblocks: u64,
        kind: MountKind,
        init: Init,
    ) -> Result<Db, Error> {
        self.xn
            .install_mount(self.cred, name, db, nblocks, kind, init)
    }
    fn type_import(&mut self, name: &str) -> Result<TypeId, Error> {
        self.xn.type_import(self.cred, name)
    }
    fn lookup(&mut self, name: &str) -> Result<CatEntry, Error> {
        lookup(self.xn, name)
    }
    fn mount(&mut self, name: &str) -> Result<(), Error> {
        self.xn.mount(name).map(drop)
    }
    fn read_and_insert(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        self.xn.read_and_insert(db, n, None)
    }
    fn insert_attr(&mut self, parent: Db, u: Update) -> Result<(), Error> {
        self.xn.insert_attr(parent, u)
    }
    fn alloc(&mut self, parent: Db, u: Update, mv: &[Mod], init: Init) -> Result<(), Error> {
        self.xn.alloc(self.cred, parent, u, mv, init)
    }
    fn free(&mut self, parent: Db, u: Update, mv: &[Mod], kid_mv: &[Mod]) -> Result<(), Error> {
        self.xn.free(self.cred, parent, u, mv, kid_mv)
    }
    fn add_edge(
        &mut self,
        src: Db,
        own_id: u32,
        src_mv: &[Mod],
        dst: Db,
        dst_mv: &[Mod],
    ) -> Result<(), Error> {
        self.xn
            .add_edge(self.cred, src, own_id, src_mv, dst, dst_mv)
    }
    fn readb(&mut self, db: Db, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        self.xn.readb(self.cred, db, offset, out)
    }
    fn map_block(&mut self, db: Db) -> Option<&Block> {
        self.xn.map_view(self.cred, db).ok()
    }
    fn writeb(&mut self, db: Db, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        self.xn.writeb(self.cred, db, offset, bytes)
    }
    fn writeback(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        self.xn.writeback(self.cred, db, n)
    }
    fn find_free(&mut self, hint: Db, n: u64) -> Option<Db> {
        self.xn.find_free(hint, n)
    }
    fn udf_enum(&mut self, db: Db, b: u32, e: u32) -> Result<Vec<Update>, Error> {
        self.xn.udf_enum(db, b, e)
    }
    fn read_attr(&mut self, db: Db) -> Option<XrAttr> {
        self.xn.read_attr(db)
    }
    fn get_refcnt(&mut self, db: Db) -> Result<Option<u64>, Error> {
        self.xn.get_refcnt(db)
    }
    fn list_writeable(&mut self) -> Vec<Db> {
        self.xn.list_writeable()
    }
}
