//! Block plumbing: caching and binding blocks through their parents, reading
//! entries, and the checked allocations and frees of single pointers. Every
//! pointer lives at a *site*: a metadata block, the owns partition that
//! reads it, and its byte offset there.

use super::layout::*;
use super::{Cffs, FsError, Loc};
use alloc::vec;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::{Db, Error, Init, Mod, TypeId, Update, BLOCK_SIZE};

/// Where one pointer lives, and its current value (0: none).
#[derive(Clone, Copy, Debug)]
pub(super) struct Site {
    pub parent: Db,
    pub part: u32,
    pub off: usize,
    pub cur: Db,
}

/// How many times an allocation retries when another environment takes the
/// block `find_free` offered.
const ALLOC_RETRIES: usize = 8;

impl<X: XnCalls> Cffs<X> {
    /// Cache `db` and bind it to `parent`, which owns it with type `ty` in
    /// partition `part` (XN checks that claim with the parent's owns-udf).
    pub(super) fn load(
        &mut self,
        parent: Db,
        part: u32,
        db: Db,
        ty: TypeId,
    ) -> Result<(), FsError> {
        if let Some(a) = self.x.read_attr(db) {
            if a.page().is_some() && a.ty == ty.0 && a.parent == parent {
                return Ok(());
            }
        }
        let u = Update {
            own_id: part,
            db,
            nblocks: 1,
            ty,
        };
        self.x.insert_attr(parent, u)?;
        self.x.read_and_insert(db, 1)?;
        Ok(())
    }

    pub(super) fn read_block(&mut self, db: Db) -> Result<Vec<u8>, FsError> {
        let mut b = vec![0u8; BLOCK_SIZE];
        self.x.readb(db, 0, &mut b)?;
        Ok(b)
    }

    /// The embedded inode at `loc` (`None`: a free entry).
    pub(super) fn entry(&mut self, loc: Loc) -> Result<Option<Inode>, FsError> {
        if loc.slot >= ENTRIES {
            return Err(FsError::Corrupt("entry slot"));
        }
        let mut e = [0u8; ENTRY_SIZE];
        self.x.readb(loc.block, entry_off(loc.slot), &mut e)?;
        Inode::decode(&e)
    }

    /// Owner-writable bytes of a block (never pointers or a kind byte in use).
    pub(super) fn put(&mut self, db: Db, off: usize, bytes: &[u8]) -> Result<(), FsError> {
        self.x.writeb(db, off, bytes)?;
        self.dirty.insert(db);
        Ok(())
    }

    /// The mode in a metadata block's header (inherited by the blocks it gets).
    pub(super) fn block_mode(&mut self, db: Db) -> Result<u32, FsError> {
        let mut m = [0u8; 4];
        self.x.readb(db, 8, &mut m)?;
        Ok(u32::from_le_bytes(m))
    }

    /// The types a file's or directory's pointers name: (blocks, indirect).
    pub(super) fn child_types(&self, kind: Kind) -> (TypeId, TypeId) {
        match kind {
            Kind::File => (TypeId::DB, self.types.ind),
            Kind::Dir => (self.types.dir, self.types.dind),
        }
    }

    /// Allocate a block at `site` (which must be empty) of type `ty`, at the
    /// first free block from `hint`: the co-location policy is the hint.
    pub(super) fn alloc_at(
        &mut self,
        site: Site,
        ty: TypeId,
        hint: Db,
        init: Init,
    ) -> Result<Db, FsError> {
        for _ in 0..ALLOC_RETRIES {
            let db = self.x.find_free(hint, 1).ok_or(FsError::NoSpace)?;
            let u = Update {
                own_id: site.part,
                db,
                nblocks: 1,
                ty,
            };
            let bytes = db.to_le_bytes();
            let mv = [Mod {
                offset: site.off,
                bytes: &bytes,
            }];
            match self.x.alloc(site.parent, u, &mv, init) {
                Ok(()) => {
                    self.dirty.insert(site.parent);
                    self.dirty.insert(db);
                    return Ok(db);
                }
                // Taken between find_free and alloc: look again.
                Err(Error::NotFree) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FsError::NoSpace)
    }

    /// Free the block at `site`. A metadata block must be cached (XN checks
    /// that it owns nothing) and empty.
    pub(super) fn free_at(&mut self, site: Site, ty: TypeId) -> Result<(), FsError> {
        if ty != TypeId::DB {
            self.load(site.parent, site.part, site.cur, ty)?;
        }
        let u = Update {
            own_id: site.part,
            db: site.cur,
            nblocks: 1,
            ty,
        };
        let zero = [0u8; 8];
        let mv = [Mod {
            offset: site.off,
            bytes: &zero,
        }];
        self.x.free(site.parent, u, &mv, &[])?;
        self.dirty.insert(site.parent);
        self.dirty.remove(&site.cur);
        Ok(())
    }

    /// The site of logical block `bi` of the inode at `loc`. Past the direct
    /// pointers it is in the indirect block, which `create` allocates (and
    /// records in `ino`); without it, a missing indirect block gives `None`.
    pub(super) fn site(
        &mut self,
        loc: Loc,
        ino: &mut Inode,
        bi: usize,
        create: bool,
    ) -> Result<Option<Site>, FsError> {
        if bi < DIRECT {
            return Ok(Some(Site {
                parent: loc.block,
                part: loc.slot,
                off: entry_off(loc.slot) + OFF_PTRS + 8 * bi,
                cur: ino.ptrs[bi],
            }));
        }
        let j = bi - DIRECT;
        if j >= PTRS_PER_IND {
            return Err(FsError::TooBig);
        }
        let (_, ind_ty) = self.child_types(ino.kind);
        let ind_site = Site {
            parent: loc.block,
            part: loc.slot,
            off: entry_off(loc.slot) + OFF_IND,
            cur: ino.ptrs[DIRECT],
        };
        let ind = if ind_site.cur != 0 {
            self.load(loc.block, loc.slot, ind_site.cur, ind_ty)?;
            ind_site.cur
        } else if create {
            let mode = self.block_mode(loc.block)?;
            let h = header(self.x.cap(), mode, MAGIC_IND);
            let hint = ino.ptrs[..DIRECT]
                .iter()
                .copied()
                .filter(|&p| p != 0)
                .max()
                .unwrap_or(loc.block);
            let db = self.alloc_at(ind_site, ind_ty, hint, Init::Bytes(&h))?;
            ino.ptrs[DIRECT] = db;
            db
        } else {
            return Ok(None);
        };
        let off = HEADER + 8 * j;
        let mut p = [0u8; 8];
        self.x.readb(ind, off, &mut p)?;
        Ok(Some(Site {
            parent: ind,
            part: j as u32,
            off,
            cur: u64::from_le_bytes(p),
        }))
    }

    /// Every mapped block of an inode, by logical index, with its site.
    pub(super) fn mapped(&mut self, loc: Loc, ino: &Inode) -> Result<Vec<(usize, Site)>, FsError> {
        let mut out = Vec::new();
        for (bi, &p) in ino.ptrs[..DIRECT].iter().enumerate() {
            if p != 0 {
                out.push((
                    bi,
                    Site {
                        parent: loc.block,
                        part: loc.slot,
                        off: entry_off(loc.slot) + OFF_PTRS + 8 * bi,
                        cur: p,
                    },
                ));
            }
        }
        let ind = ino.ptrs[DIRECT];
        if ind != 0 {
            let (_, ind_ty) = self.child_types(ino.kind);
            self.load(loc.block, loc.slot, ind, ind_ty)?;
            let b = self.read_block(ind)?;
            for j in 0..PTRS_PER_IND {
                let p = get_u64(&b, HEADER + 8 * j);
                if p != 0 {
                    let site = Site {
                        parent: ind,
                        part: j as u32,
                        off: HEADER + 8 * j,
                        cur: p,
                    };
                    out.push((DIRECT + j, site));
                }
            }
        }
        Ok(out)
    }

    /// Free the blocks of logical index `from` onwards, and the indirect
    /// block if nothing it maps is left. Directory blocks must be empty.
    pub(super) fn free_from(
        &mut self,
        loc: Loc,
        ino: &mut Inode,
        from: usize,
    ) -> Result<(), FsError> {
        let (ty, ind_ty) = self.child_types(ino.kind);
        for (bi, site) in self.mapped(loc, ino)? {
            if bi >= from {
                self.free_at(site, ty)?;
                if bi < DIRECT {
                    ino.ptrs[bi] = 0;
                }
            }
        }
        let ind = ino.ptrs[DIRECT];
        if ind != 0 && from <= DIRECT {
            let site = Site {
                parent: loc.block,
                part: loc.slot,
                off: entry_off(loc.slot) + OFF_IND,
                cur: ind,
            };
            self.free_at(site, ind_ty)?;
            ino.ptrs[DIRECT] = 0;
        }
        Ok(())
    }
}
