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

    /// Bytes of cached block `db` from `off`: read from XN's own page where
    /// it can be mapped here (bound once, then plain memory), else copied
    /// by a call.
    pub(super) fn read_bytes(&mut self, db: Db, off: usize, out: &mut [u8]) -> Result<(), FsError> {
        if let Some(b) = self.x.map_block(db) {
            let bytes = off
                .checked_add(out.len())
                .and_then(|end| b.get(off..end))
                .ok_or(FsError::Xn(Error::BadRange))?;
            out.copy_from_slice(bytes);
            return Ok(());
        }
        self.x.readb(db, off, out)?;
        Ok(())
    }

    pub(super) fn read_block(&mut self, db: Db) -> Result<Vec<u8>, FsError> {
        let mut b = vec![0u8; BLOCK_SIZE];
        self.read_bytes(db, 0, &mut b)?;
        Ok(b)
    }

    /// The embedded inode at `loc` (`None`: a free entry).
    pub(super) fn entry(&mut self, loc: Loc) -> Result<Option<Inode>, FsError> {
        if loc.slot >= ENTRIES {
            return Err(FsError::Corrupt("entry slot"));
        }
        let mut e = [0u8; ENTRY_SIZE];
        self.read_bytes(loc.block, entry_off(loc.slot), &mut e)?;
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
        self.read_bytes(db, 8, &mut m)?;
        Ok(u32::from_le_bytes(m))
    }

    /// The types a file's or directory's pointers name: (blocks, the block
    /// at slot `DIRECT`: a file's double-indirect, a directory's indirect).
    pub(super) fn child_types(&self, kind: Kind) -> (TypeId, TypeId) {
        match kind {
            Kind::File => (TypeId::DB, self.types.ind2),
            Kind::Dir => (self.types.dir, self.types.dind),
        }
    }

    /// The pointer block at `site`, of type `ty`: cached and bound, or, if
    /// there is none and `create`, made empty near `hint`.
    fn pointer_block(
        &mut self,
        site: Site,
        ty: TypeId,
        hint: Db,
        create: bool,
    ) -> Result<Option<Db>, FsError> {
        if site.cur != 0 {
            self.load(site.parent, site.part, site.cur, ty)?;
            return Ok(Some(site.cur));
        }
        if !create {
            return Ok(None);
        }
        let mode = self.block_mode(site.parent)?;
        let h = header(self.x.cap(), mode, MAGIC_IND);
        self.alloc_at(site, ty, hint, Init::Bytes(&h)).map(Some)
    }

    /// The site of pointer `j` of pointer block `db` (cached).
    fn pointer_site(&mut self, db: Db, j: usize) -> Result<Site, FsError> {
        let off = HEADER + 8 * j;
        let mut p = [0u8; 8];
        self.read_bytes(db, off, &mut p)?;
        Ok(Site {
            parent: db,
            part: j as u32,
            off,
            cur: u64::from_le_bytes(p),
        })
    }

    /// The non-zero pointers of pointer block `db` (cached), with their sites.
    fn pointers(&mut self, db: Db) -> Result<Vec<(usize, Site)>, FsError> {
        let b = self.read_block(db)?;
        Ok((0..PTRS_PER_IND)
            .filter_map(|j| {
                let off = HEADER + 8 * j;
                let cur = get_u64(&b, off);
                (cur != 0).then_some((
                    j,
                    Site {
                        parent: db,
                        part: j as u32,
                        off,
                        cur,
                    },
                ))
            })
            .collect())
    }

    /// The site of the block at slot `DIRECT` of the inode at `loc`.
    fn top_site(loc: Loc, ino: &Inode) -> Site {
        Site {
            parent: loc.block,
            part: loc.slot,
            off: entry_off(loc.slot) + OFF_IND,
            cur: ino.ptrs[DIRECT],
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
    /// pointers it is in an indirect block (for a file, one the
    /// double-indirect block names), which `create` allocates (recording a
    /// new top block in `ino`); without it, a missing block gives `None`.
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
        let limit = match ino.kind {
            Kind::File => MAX_FILE_BLOCKS,
            Kind::Dir => MAX_DIR_BLOCKS,
        };
        if bi >= limit {
            return Err(FsError::TooBig);
        }
        let (_, top_ty) = self.child_types(ino.kind);
        let hint = ino.ptrs[..DIRECT]
            .iter()
            .copied()
            .filter(|&p| p != 0)
            .max()
            .unwrap_or(loc.block);
        let Some(top) = self.pointer_block(Self::top_site(loc, ino), top_ty, hint, create)? else {
            return Ok(None);
        };
        ino.ptrs[DIRECT] = top;
        if ino.kind == Kind::Dir {
            return self.pointer_site(top, j).map(Some);
        }
        let mid_site = self.pointer_site(top, j / PTRS_PER_IND)?;
        let ind = self.types.ind;
        let Some(mid) = self.pointer_block(mid_site, ind, top, create)? else {
            return Ok(None);
        };
        self.pointer_site(mid, j % PTRS_PER_IND).map(Some)
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
        let top = ino.ptrs[DIRECT];
        if top == 0 {
            return Ok(out);
        }
        let (_, top_ty) = self.child_types(ino.kind);
        self.load(loc.block, loc.slot, top, top_ty)?;
        let below = self.pointers(top)?;
        if ino.kind == Kind::Dir {
            out.extend(below.into_iter().map(|(j, s)| (DIRECT + j, s)));
            return Ok(out);
        }
        let ind = self.types.ind;
        for (k, mid) in below {
            self.load(top, k as u32, mid.cur, ind)?;
            let data = self.pointers(mid.cur)?;
            out.extend(
                data.into_iter()
                    .map(|(j, s)| (DIRECT + k * PTRS_PER_IND + j, s)),
            );
        }
        Ok(out)
    }

    /// Free the blocks of logical index `from` onwards, and the pointer
    /// blocks that map nothing then. Directory blocks must be empty.
    pub(super) fn free_from(
        &mut self,
        loc: Loc,
        ino: &mut Inode,
        from: usize,
    ) -> Result<(), FsError> {
        let (ty, top_ty) = self.child_types(ino.kind);
        for (bi, site) in self.mapped(loc, ino)? {
            if bi >= from {
                self.free_at(site, ty)?;
                if bi < DIRECT {
                    ino.ptrs[bi] = 0;
                }
            }
        }
        let top = ino.ptrs[DIRECT];
        if top == 0 {
            return Ok(());
        }
        if ino.kind == Kind::File {
            // A file's indirect blocks wholly at or past `from` are empty now.
            let ind = self.types.ind;
            for (k, mid) in self.pointers(top)? {
                if DIRECT + k * PTRS_PER_IND >= from {
                    self.free_at(mid, ind)?;
                }
            }
        }
        if from <= DIRECT {
            self.free_at(Self::top_site(loc, ino), top_ty)?;
            ino.ptrs[DIRECT] = 0;
        }
        Ok(())
    }
}
