//! The checks every metadata operation shares: access (acl-uf, capabilities, locks),
//! the inductive owns check of §4.1 with state partitions, and the bookkeeping that
//! follows a block's death (will-free, free map, taint).

use crate::disk::Disk;
use crate::error::Error;
use crate::owns::{self, AclQuery, OwnsSet};
use crate::registry::{self, state, PageStore};
use crate::template::Template;
use crate::udf::{AclOp, ReadSet};
use crate::xn::{Cred, Mod, Xn};
use crate::{catalogue, Block, Db, TypeId, BLOCK_SIZE};
use alloc::vec::Vec;

/// Whether a checked modification adds or removes owned blocks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delta {
    Add,
    Remove,
}

/// Apply a modification vector to a copy of `img`.
pub(crate) fn apply_mods(img: &Block, mv: &[Mod]) -> Result<Block, Error> {
    let mut out = *img;
    for m in mv {
        let end = m.offset.checked_add(m.bytes.len()).ok_or(Error::BadRange)?;
        if end > BLOCK_SIZE {
            return Err(Error::BadRange);
        }
        out[m.offset..end].copy_from_slice(m.bytes);
    }
    Ok(out)
}

pub(crate) fn mods_touch(rs: &ReadSet, mv: &[Mod]) -> bool {
    mv.iter().any(|m| rs.overlaps(m.offset, m.bytes.len()))
}

impl<D: Disk, P: PageStore> Xn<D, P> {
    /// The cached contents of `db`.
    pub(crate) fn page_of(&self, db: Db) -> Result<&Block, Error> {
        let a = self.reg.get(db).ok_or(Error::NotInCore)?;
        a.page()
            .and_then(|p| self.pages.page(p))
            .ok_or(Error::NotInCore)
    }

    pub(crate) fn set_page(&mut self, db: Db, img: &Block) -> Result<(), Error> {
        let p = self
            .reg
            .get(db)
            .and_then(|a| a.page())
            .ok_or(Error::NotInCore)?;
        *self.pages.page_mut(p).ok_or(Error::NotInCore)? = *img;
        if let Some(e) = self.reg.entry_mut(db) {
            e.attr.state |= state::DIRTY;
        }
        Ok(())
    }

    /// A cached metadata block's type and template.
    pub(crate) fn meta_template(&self, db: Db) -> Result<(TypeId, &Template), Error> {
        let a = self.reg.get(db).ok_or(Error::NotInCore)?;
        let ty = a.type_id();
        if ty == TypeId::UNKNOWN {
            return Err(Error::Unbound);
        }
        if ty == TypeId::DB || ty == TypeId::TYPE {
            return Err(Error::NotMetadata);
        }
        Ok((ty, self.types.get(ty).ok_or(Error::BadType)?))
    }

    /// Refuse if another environment holds the block's lock.
    pub(crate) fn check_lock(&self, cred: Cred, db: Db) -> Result<(), Error> {
        match self.reg.get(db) {
            Some(a) if a.has(state::LOCKED) && a.locked_by != cred.env => Err(Error::Locked),
            _ => Ok(()),
        }
    }

    /// May `cred` do `op` to cached block `db` (proposing `new` for modifications)?
    /// Metadata is guarded by its own acl-uf; a raw data block by its parent's; template
    /// blocks by their catalogue entry's capability (and are immutable once imported).
    pub(crate) fn check_access(
        &self,
        cred: Cred,
        db: Db,
        op: AclOp,
        target: Db,
        new: Option<&Block>,
    ) -> Result<(), Error> {
        let a = self.reg.get(db).ok_or(Error::NotInCore)?;
        let page = self.page_of(db)?;
        let clock = self.clock.as_ref().map(|f| f as &dyn Fn() -> u64);
        let ty = a.type_id();
        let allowed = if ty == TypeId::UNKNOWN {
            return Err(Error::Unbound);
        } else if ty == TypeId::TYPE {
            let e = self.cat.get(a.root as usize).ok_or(Error::AccessDenied)?;
            op == AclOp::Read || (e.kind == catalogue::Kind::Extent && e.cap == cred.cap)
        } else if ty == TypeId::DB {
            if a.parent == registry::NONE {
                return Err(Error::AccessDenied);
            }
            let (_, tpl) = self.meta_template(a.parent)?;
            let ppage = self.page_of(a.parent)?;
            let q = AclQuery {
                op,
                cap: cred.cap,
                env: cred.env,
                db: a.parent,
                target: db,
                new: ppage,
            };
            owns::acl(tpl, ppage, &q, clock)?
        } else {
            let (_, tpl) = self.meta_template(db)?;
            let q = AclQuery {
                op,
                cap: cred.cap,
                env: cred.env,
                db,
                target,
                new: new.unwrap_or(page),
            };
            owns::acl(tpl, page, &q, clock)?
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::AccessDenied)
        }
    }

    /// The inductive step of §4.1: with partition `own_id` named by the caller, check that
    /// the modification `mv` turning `old` into `new` touches no other partition's state
    /// and changes `own_id`'s owned set by exactly `delta` (added or removed), and that
    /// the block's own reference count is untouched.
    /// The inductive check of a (de)allocation (thesis §4.4), traced.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn verify_delta(
        &self,
        tpl: &Template,
        db: Db,
        old: &Block,
        new: &Block,
        own_id: u32,
        mv: &[Mod],
        delta: &OwnsSet,
        dir: Delta,
    ) -> Result<(), Error> {
        if !crate::checks_enabled() {
            return Ok(());
        }
        let r = self.verify_delta_untraced(tpl, db, old, new, own_id, mv, delta, dir);
        crate::trace::emit(crate::trace::Event::Udf {
            db,
            verdict: r.as_ref().err().map_or(0, Error::code),
        });
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_delta_untraced(
        &self,
        tpl: &Template,
        db: Db,
        old: &Block,
        new: &Block,
        own_id: u32,
        mv: &[Mod],
        delta: &OwnsSet,
        dir: Delta,
    ) -> Result<(), Error> {
        if own_id >= tpl.nparts {
            return Err(Error::BadPartition);
        }
        let before = owns::run_all(tpl, old, db)?;
        let after = owns::run_all(tpl, new, db)?;
        owns::union(&after)?;
        for (q, (b, a)) in before.iter().zip(after.iter()).enumerate() {
            if q as u32 == own_id {
                continue;
            }
            if mods_touch(&b.reads, mv) || mods_touch(&a.reads, mv) || b.owned != a.owned {
                return Err(Error::PartitionViolation);
            }
        }
        let mut expect = before[own_id as usize].owned.clone();
        for (&blk, &ty) in delta {
            let ok = match dir {
                Delta::Add => expect.insert(blk, ty).is_none(),
                Delta::Remove => expect.remove(&blk) == Some(ty),
            };
            if !ok {
                return Err(Error::BogusUpdate);
            }
        }
        if after[own_id as usize].owned != expect {
            return Err(Error::BogusUpdate);
        }
        let rc = |img: &Block| owns::refcnt(tpl, img, db).map(|r| r.map(|(n, _)| n));
        if rc(old)? != rc(new)? {
            return Err(Error::BogusUpdate);
        }
        Ok(())
    }

    /// A modification to `db` that must leave its owned set unchanged (writeb, or the
    /// child side of add_edge/free): it may not touch bytes any owns partition reads.
    pub(crate) fn verify_owns_unchanged(
        &self,
        tpl: &Template,
        db: Db,
        old: &Block,
        new: &Block,
        mv: &[Mod],
    ) -> Result<(), Error> {
        if !crate::checks_enabled() {
            return Ok(());
        }
        for img in [old, new] {
            for p in owns::run_all(tpl, img, db)? {
                if mods_touch(&p.reads, mv) {
                    return Err(Error::ProtectedBytes);
                }
            }
        }
        if owns::owns_set(tpl, old, db)? != owns::owns_set(tpl, new, db)? {
            return Err(Error::ProtectedBytes);
        }
        Ok(())
    }

    /// Recompute the cached on-disk owns of a clean, typed, cached metadata block.
    pub(crate) fn refresh_disk_owns(&mut self, db: Db) {
        let Some(a) = self.reg.get(db).copied() else {
            return;
        };
        if a.has(state::DIRTY) || a.page().is_none() {
            return;
        }
        let owns = match (self.types.get(a.type_id()), self.page_of(db)) {
            (Some(t), Ok(page)) => owns::owns_set(t, page, db).ok(),
            _ => Some(OwnsSet::new()),
        };
        if let Some(e) = self.reg.entry_mut(db) {
            e.disk_owns = owns;
        }
    }

    /// Mirror the taint set into the registry's TAINTED bits.
    pub(crate) fn refresh_taint(&mut self, dbs: impl IntoIterator<Item = Db>) {
        for b in dbs {
            let t = self.taint.is_tainted(b);
            if let Some(e) = self.reg.entry_mut(b) {
                if t != e.attr.has(state::TAINTED) {
                    crate::trace::emit(crate::trace::Event::Taint { db: b, tainted: t });
                }
                if t {
                    e.attr.state |= state::TAINTED;
                } else {
                    e.attr.state &= !state::TAINTED;
                }
            }
        }
    }

    /// A block left its last in-core parent: drop its registry entry, then free it now
    /// if no on-disk image points to it, else put it on the will-free list.
    pub(crate) fn release_block(&mut self, b: Db) {
        let disk_ptrs = self
            .reg
            .entries()
            .filter(|e| e.disk_owns.as_ref().is_some_and(|o| o.contains_key(&b)))
            .count();
        let own = self.reg.remove(b).map(|e| {
            if let Some(p) = e.attr.page() {
                self.pages.free(p);
            }
            e.disk_owns.unwrap_or_default()
        });
        let clean = self.taint.forget(b);
        self.refresh_taint(clean);
        self.temp_blocks.remove(&b);
        let own = own.unwrap_or_default();
        if disk_ptrs == 0 {
            self.finalize_free(b, own);
        } else {
            self.willfree.add(b, disk_ptrs as u32);
            self.pending_owns.insert(b, own);
        }
    }

    /// `b` is unreachable on disk: free it, and since its on-disk image no longer counts
    /// as a pointer, release the will-free blocks only it still pointed to.
    pub(crate) fn finalize_free(&mut self, b: Db, disk_owns: OwnsSet) {
        let mut work: Vec<(Db, OwnsSet)> = alloc::vec![(b, disk_owns)];
        while let Some((x, owned)) = work.pop() {
            self.free.set(x, false);
            for &k in owned.keys() {
                if self.willfree.pointer_gone(k) {
                    let o = self.pending_owns.remove(&k).unwrap_or_default();
                    work.push((k, o));
                }
            }
        }
    }
}
