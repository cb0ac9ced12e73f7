//! A flat object store on XN: the second, deliberately different libFS that
//! shares the disk with [`crate::fs::cffs`]. One root block (type
//! `flat.table`) holds up to 63 records of (name, length, extent); each
//! object's data is one extent of consecutive blocks, allocated in a single
//! checked XN call. Replacing an object allocates the new extent before
//! freeing the old one in the same table block, so on disk an object is
//! always wholly old or wholly new (the data reaches disk before the table,
//! which XN's taint rule enforces).

pub mod layout;
pub mod templates;

use super::{install, FsError};
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use exo_abi::xn::MAX_READ_BLOCKS;
use exo_xn::api::XnCalls;
use exo_xn::{Db, Error, Init, Mod, MountKind, TypeId, Update, BLOCK_SIZE};
use layout::*;

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    slot: u32,
    name: String,
    len: u64,
    start: Db,
    nblocks: u64,
}

/// A mounted flat store.
pub struct Flat<X: XnCalls> {
    x: X,
    ty: TypeId,
    table: Db,
    dirty: BTreeSet<Db>,
}

fn check_name(name: &str) -> Result<(), FsError> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() || name.contains('\0') {
        return Err(FsError::InvalidName);
    }
    Ok(())
}

fn get_u64(b: &[u8], o: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(v)
}

impl<X: XnCalls> Flat<X> {
    /// Install `flat.table` if absent and create a store named `root`.
    pub fn mkfs(mut x: X, root: &str, mode: u32) -> Result<Self, FsError> {
        let ids = install::ensure(&mut x, &[TABLE_TYPE], |_| templates::templates())?;
        let ty = *ids.first().ok_or(FsError::Corrupt("type ids"))?;
        let mut h = [0u8; 16];
        h[..8].copy_from_slice(&x.cap().to_le_bytes());
        h[8..12].copy_from_slice(&mode.to_le_bytes());
        h[12..16].copy_from_slice(&MAGIC.to_le_bytes());
        let kind = MountKind::Root {
            ty,
            temporary: false,
        };
        match x.install_mount(root, None, 1, kind, Init::Bytes(&h)) {
            Err(Error::Exists) => return Err(FsError::Exists),
            r => r?,
        };
        Self::mount(x, root)
    }

    pub fn mount(mut x: X, root: &str) -> Result<Self, FsError> {
        let ty = *install::find(&mut x, &[TABLE_TYPE])?
            .first()
            .ok_or(FsError::Corrupt("type ids"))?;
        let e = match x.lookup(root) {
            Err(Error::NoSuchName) => return Err(FsError::NotFound),
            r => r?,
        };
        if !e.is_root || e.ty != ty || e.nblocks != 1 {
            return Err(FsError::Corrupt("not a flat store"));
        }
        x.read_and_insert(e.db, 1)?;
        x.mount(root)?;
        let mut m = [0u8; 4];
        x.readb(e.db, 12, &mut m)?;
        if u32::from_le_bytes(m) != MAGIC {
            return Err(FsError::Corrupt("bad table magic"));
        }
        Ok(Flat {
            x,
            ty,
            table: e.db,
            dirty: BTreeSet::new(),
        })
    }

    pub fn xn(&mut self) -> &mut X {
        &mut self.x
    }

    pub fn into_inner(self) -> X {
        self.x
    }

    pub fn table(&self) -> Db {
        self.table
    }

    pub fn type_id(&self) -> TypeId {
        self.ty
    }

    fn records(&mut self) -> Result<Vec<Record>, FsError> {
        let mut b = vec![0u8; BLOCK_SIZE];
        self.x.readb(self.table, 0, &mut b)?;
        let mut out = Vec::new();
        for slot in 0..RECORDS {
            let r = &b[record_off(slot)..record_off(slot) + RECORD_SIZE];
            let n = r[..NAME_MAX]
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(NAME_MAX);
            let nblocks = get_u64(r, OFF_NBLOCKS);
            if n == 0 && nblocks == 0 {
                continue;
            }
            let name = core::str::from_utf8(&r[..n])
                .map_err(|_| FsError::Corrupt("record name"))?
                .into();
            out.push(Record {
                slot,
                name,
                len: get_u64(r, OFF_LEN),
                start: get_u64(r, OFF_START),
                nblocks,
            });
        }
        Ok(out)
    }

    /// (name, length) of every object.
    pub fn list(&mut self) -> Result<Vec<(String, u64)>, FsError> {
        Ok(self
            .records()?
            .into_iter()
            .map(|r| (r.name, r.len))
            .collect())
    }

    /// An object's contents.
    pub fn get(&mut self, name: &str) -> Result<Vec<u8>, FsError> {
        let r = self
            .records()?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or(FsError::NotFound)?;
        if r.nblocks > MAX_EXTENT || r.len > r.nblocks * BLOCK_SIZE as u64 {
            return Err(FsError::Corrupt("record longer than its extent"));
        }
        let mut out = vec![0u8; r.len as usize];
        if r.nblocks == 0 {
            return Ok(out);
        }
        let u = Update {
            own_id: r.slot,
            db: r.start,
            nblocks: r.nblocks,
            ty: TypeId::DB,
        };
        self.x.insert_attr(self.table, u)?;
        // The kernel reads at most MAX_READ_BLOCKS blocks per call.
        let mut db = r.start;
        while db < r.start + r.nblocks {
            let n = (r.start + r.nblocks - db).min(MAX_READ_BLOCKS);
            self.x.read_and_insert(db, n)?;
            db += n;
        }
        for (i, chunk) in out.chunks_mut(BLOCK_SIZE).enumerate() {
            self.x.readb(r.start + i as u64, 0, chunk)?;
        }
        Ok(out)
    }

    /// Store `data` as `name`, replacing any object of that name.
    pub fn put(&mut self, name: &str, data: &[u8]) -> Result<(), FsError> {
        check_name(name)?;
        let n = data.len().div_ceil(BLOCK_SIZE) as u64;
        if n > MAX_EXTENT {
            return Err(FsError::TooBig);
        }
        let recs = self.records()?;
        let old = recs.iter().find(|r| r.name == name).cloned();
        let free = (0..RECORDS).find(|s| recs.iter().all(|r| r.slot != *s));
        // Prefer a fresh slot so the old object stays until the new one is in.
        let slot = match (free, &old) {
            (Some(s), _) => s,
            (None, Some(o)) => {
                self.remove(o)?;
                o.slot
            }
            (None, None) => return Err(FsError::NoSpace),
        };
        let mut rec = [0u8; RECORD_SIZE];
        rec[..name.len()].copy_from_slice(name.as_bytes());
        rec[OFF_LEN..OFF_LEN + 8].copy_from_slice(&(data.len() as u64).to_le_bytes());
        if n == 0 {
            self.x
                .writeb(self.table, record_off(slot), &rec[..OFF_START])?;
        } else {
            let start = self.alloc_extent(slot, n, &mut rec)?;
            for (i, chunk) in data.chunks(BLOCK_SIZE).enumerate() {
                self.x.writeb(start + i as u64, 0, chunk)?;
                self.dirty.insert(start + i as u64);
            }
        }
        self.dirty.insert(self.table);
        match old {
            Some(o) if o.slot != slot => self.remove(&o),
            _ => Ok(()),
        }
    }

    /// Allocate an `n`-block extent for record `slot` (whose bytes `rec`
    /// get the extent filled in) near the table.
    fn alloc_extent(
        &mut self,
        slot: u32,
        n: u64,
        rec: &mut [u8; RECORD_SIZE],
    ) -> Result<Db, FsError> {
        for _ in 0..8 {
            let start = self.x.find_free(self.table, n).ok_or(FsError::NoSpace)?;
            rec[OFF_START..OFF_START + 8].copy_from_slice(&start.to_le_bytes());
            rec[OFF_NBLOCKS..OFF_NBLOCKS + 8].copy_from_slice(&n.to_le_bytes());
            let u = Update {
                own_id: slot,
                db: start,
                nblocks: n,
                ty: TypeId::DB,
            };
            let mv = [Mod {
                offset: record_off(slot),
                bytes: &rec[..],
            }];
            match self.x.alloc(self.table, u, &mv, Init::Zero) {
                Ok(()) => return Ok(start),
                Err(Error::NotFree) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FsError::NoSpace)
    }

    pub fn delete(&mut self, name: &str) -> Result<(), FsError> {
        let r = self
            .records()?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or(FsError::NotFound)?;
        self.remove(&r)
    }

    fn remove(&mut self, r: &Record) -> Result<(), FsError> {
        let zero = [0u8; RECORD_SIZE];
        let off = record_off(r.slot);
        if r.nblocks == 0 {
            self.x.writeb(self.table, off, &zero[..OFF_START])?;
        } else {
            let u = Update {
                own_id: r.slot,
                db: r.start,
                nblocks: r.nblocks,
                ty: TypeId::DB,
            };
            let mv = [Mod {
                offset: off,
                bytes: &zero,
            }];
            self.x.free(self.table, u, &mv, &[])?;
        }
        self.dirty.insert(self.table);
        Ok(())
    }

    /// Write back the data, then the table.
    pub fn sync(&mut self) -> Result<(), FsError> {
        super::writeback::sync_set(&mut self.x, &mut self.dirty)
    }
}
