//! Registry and I/O operations (§8 B.3): read_and_insert, insert_attr, delete_attr,
//! writeback (ordered by the taint and will-free rules), readb/writeb, locks, and the
//! secure-binding check the kernel makes before mapping a cached page.

use crate::disk::Disk;
use crate::error::Error;
use crate::meta::apply_mods;
use crate::owns::{self, OwnsSet};
use crate::registry::{self, state, PageId, PageStore, Registry};
use crate::udf::AclOp;
use crate::xn::{Cred, Mod, Update, Xn};
use crate::{Block, Db, TypeId, BLOCK_SIZE};

impl<D: Disk, P: PageStore> Xn<D, P> {
    /// `sys_xn_read_and_insert`: read allocated blocks `[db, db + n)` into pages (the
    /// caller's, or fresh ones from the store) and register them. Anyone may do this:
    /// access is checked when the data is used (readb, mapping), and a block read before
    /// its parent is known stays "unknown type" until `insert_attr` binds it. Returns how
    /// many blocks were brought in (already-cached blocks are skipped).
    pub fn read_and_insert(
        &mut self,
        db: Db,
        n: u64,
        pages: Option<&[PageId]>,
    ) -> Result<u64, Error> {
        let end = db.checked_add(n).ok_or(Error::BadBlock)?;
        if db < self.sb.data_start || end > self.sb.nblocks {
            return Err(Error::BadBlock);
        }
        if pages.is_some_and(|p| p.len() as u64 != n) {
            return Err(Error::BadRange);
        }
        let mut count = 0;
        for (i, b) in (db..end).enumerate() {
            // Unallocated blocks hold someone's old data and no tree: nothing to cache.
            // (Read-only inspection of a crashed image trusts the trees, not the stale map.)
            if self.free.is_free(b) && !self.read_only {
                return Err(Error::NotFree);
            }
            let existing = self.reg.get(b).copied();
            if existing.is_some_and(|a| a.page().is_some()) {
                continue;
            }
            let page = match pages {
                Some(p) => {
                    self.pages.page(p[i]).ok_or(Error::BadRange)?;
                    p[i]
                }
                None => self.pages.alloc().ok_or(Error::NoSpace)?,
            };
            let mut buf = [0u8; BLOCK_SIZE];
            if let Err(e) = self.disk.read(b, &mut buf) {
                if pages.is_none() {
                    self.pages.free(page);
                }
                return Err(e.into());
            }
            if let Some(p) = self.pages.page_mut(page) {
                *p = buf;
            }
            match existing {
                Some(_) => {
                    if let Some(e) = self.reg.entry_mut(b) {
                        e.attr.page = page;
                        e.attr.state &= !state::OUT_OF_CORE;
                    }
                }
                None => {
                    let mut attr = Registry::new_attr(b, TypeId::UNKNOWN, 0);
                    attr.page = page;
                    self.reg.insert(registry::Entry {
                        attr,
                        disk_owns: None,
                    });
                }
            }
            self.refresh_disk_owns(b);
            count += 1;
        }
        Ok(count)
    }

    /// `sys_xn_insert_attr`: bind `u`'s extent to `parent`, which must own it (with type
    /// `u.ty`) in partition `u.own_id`. Blocks not cached get out-of-core entries.
    pub fn insert_attr(&mut self, parent: Db, u: Update) -> Result<(), Error> {
        let (_, tpl) = self.meta_template(parent)?;
        if u.own_id >= tpl.nparts {
            return Err(Error::BadPartition);
        }
        let end = u.db.checked_add(u.nblocks).ok_or(Error::BadBlock)?;
        if u.nblocks == 0 || u.nblocks > owns::MAX_OWNED as u64 {
            return Err(Error::BadRange);
        }
        let part = owns::run_part(tpl, self.page_of(parent)?, parent, u.own_id)?;
        if (u.db..end).any(|b| part.owned.get(&b) != Some(&u.ty)) {
            return Err(Error::BogusUpdate);
        }
        for b in u.db..end {
            if let Some(a) = self.reg.get(b) {
                if a.ty != TypeId::UNKNOWN.0 && a.ty != u.ty.0 {
                    return Err(Error::BadType);
                }
            }
        }
        let pattr = *self.reg.get(parent).ok_or(Error::NotInCore)?;
        for b in u.db..end {
            if self.reg.get(b).is_none() {
                let attr = Registry::new_attr(b, u.ty, state::OUT_OF_CORE);
                self.reg.insert(registry::Entry {
                    attr,
                    disk_owns: None,
                });
            }
            if let Some(e) = self.reg.entry_mut(b) {
                e.attr.ty = u.ty.0;
                e.attr.parent = parent;
                e.attr.root = pattr.root;
                e.attr.state |= pattr.state & state::TEMPORARY;
            }
            self.refresh_disk_owns(b);
        }
        Ok(())
    }

    /// `sys_xn_delete_attr`: drop registry entries (and their pages): the
    /// application evicting blocks it may write (a block not yet bound to a
    /// parent, whose rights are not known, by anyone). Refused for dirty
    /// blocks (their changes, and the on-disk pointer accounting, would be
    /// lost) and for blocks another environment has locked.
    pub fn delete_attr(&mut self, cred: Cred, db: Db, n: u64) -> Result<(), Error> {
        let end = db.checked_add(n).ok_or(Error::BadBlock)?;
        for b in db..end {
            if let Some(a) = self.reg.get(b) {
                if a.has(state::DIRTY) {
                    return Err(Error::Dirty);
                }
                self.check_lock(cred, b)?;
                match self.check_access(cred, b, AclOp::Write, b, None) {
                    Ok(()) | Err(Error::Unbound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for b in db..end {
            if let Some(e) = self.reg.remove(b) {
                if let Some(p) = e.attr.page() {
                    self.pages.free(p);
                }
            }
        }
        Ok(())
    }

    /// `sys_xn_writeback`: write dirty cached blocks in `[db, db + n)` to disk. Needs no
    /// access rights (a syncer daemon may flush anyone's blocks) but refuses blocks
    /// locked by another environment and, in persistent trees, tainted blocks. A write
    /// initializes the block (untainting its parents) and, for metadata, retires the
    /// on-disk pointers it drops (advancing the will-free list). Returns blocks written.
    pub fn writeback(&mut self, cred: Cred, db: Db, n: u64) -> Result<u64, Error> {
        self.writable()?;
        let end = db.checked_add(n).ok_or(Error::BadBlock)?;
        let mut count = 0;
        for b in db..end {
            let a = *self.reg.get(b).ok_or(Error::NotInCore)?;
            if !a.has(state::DIRTY) {
                continue;
            }
            self.check_lock(cred, b)?;
            if !a.has(state::TEMPORARY) && self.taint.is_tainted(b) {
                return Err(Error::Tainted);
            }
            let img = *self.page_of(b)?;
            self.disk.write(b, &img)?;
            count += 1;
            if let Some(e) = self.reg.entry_mut(b) {
                e.attr.state &= !(state::DIRTY | state::UNINIT);
            }
            let clean = self.taint.written(b);
            self.refresh_taint(clean);
            self.refresh_taint([b]);
            if let Some(t) = self.types.get(a.type_id()) {
                let now = owns::owns_set(t, &img, b).unwrap_or_default();
                let before = self
                    .reg
                    .entry_mut(b)
                    .and_then(|e| e.disk_owns.replace(now.clone()));
                let gone: OwnsSet = before
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| !now.contains_key(k))
                    .collect();
                for &k in gone.keys() {
                    if self.willfree.pointer_gone(k) {
                        let o = self.pending_owns.remove(&k).unwrap_or_default();
                        self.finalize_free(k, o);
                    }
                }
            }
        }
        self.disk.flush()?;
        Ok(count)
    }

    /// `sys_xn_readb`: copy bytes of a cached block, if the acl allows reading.
    pub fn readb(&self, cred: Cred, db: Db, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        let end = offset.checked_add(out.len()).ok_or(Error::BadRange)?;
        if end > BLOCK_SIZE {
            return Err(Error::BadRange);
        }
        self.check_access(cred, db, AclOp::Read, db, None)?;
        out.copy_from_slice(&self.page_of(db)?[offset..end]);
        Ok(())
    }

    /// `sys_xn_writeb`: write bytes of a cached block. For metadata the bytes must lie
    /// outside everything owns-udf and refcnt-udf read: pointers and counts change only
    /// through alloc/free/add_edge, where they are checked.
    pub fn writeb(&mut self, cred: Cred, db: Db, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        self.writable()?;
        self.check_lock(cred, db)?;
        let old = *self.page_of(db)?;
        let mv = [Mod { offset, bytes }];
        let new = apply_mods(&old, &mv)?;
        self.check_access(cred, db, AclOp::Write, db, Some(&new))?;
        if let Ok((_, tpl)) = self.meta_template(db) {
            self.verify_owns_unchanged(tpl, db, &old, &new, &mv)?;
            for img in [&old, &new] {
                if let Some((_, rs)) = owns::refcnt(tpl, img, db)? {
                    if crate::meta::mods_touch(&rs, &mv) {
                        return Err(Error::ProtectedBytes);
                    }
                }
            }
        }
        self.set_page(db, &new)
    }

    /// `lock`: hold a registry entry for a multi-step update; others cannot modify,
    /// write back or evict it until `unlock` (or until the holder ends:
    /// `unlock_all`). Only who may write the block may lock it.
    pub fn lock(&mut self, cred: Cred, db: Db) -> Result<(), Error> {
        self.check_lock(cred, db)?;
        self.check_access(cred, db, AclOp::Write, db, None)?;
        let e = self.reg.entry_mut(db).ok_or(Error::NotInCore)?;
        e.attr.state |= state::LOCKED;
        e.attr.locked_by = cred.env;
        Ok(())
    }

    /// Lets go of every lock environment `env` holds (it has ended); how
    /// many.
    pub fn unlock_all(&mut self, env: u64) -> usize {
        self.reg.unlock_all(env)
    }

    pub fn unlock(&mut self, cred: Cred, db: Db) -> Result<(), Error> {
        self.check_lock(cred, db)?;
        let e = self.reg.entry_mut(db).ok_or(Error::NotInCore)?;
        e.attr.state &= !state::LOCKED;
        e.attr.locked_by = 0;
        Ok(())
    }

    /// Privileged inspection of a cached block, bypassing acl-ufs (offline tools; the
    /// kernel must not offer this to environments).
    pub fn peek(&self, db: Db) -> Result<&crate::Block, Error> {
        self.page_of(db)
    }

    /// The secure binding (§4.4): may `cred` map `db`'s page, writable or not? Metadata
    /// is never mapped writable (it changes only through checked calls).
    /// Cached block `db` as `check_map` would bind it read-only for `cred`:
    /// for a libFS that shares XN's pages directly (the host's `Direct`).
    pub fn map_view(&self, cred: Cred, db: Db) -> Result<&Block, Error> {
        self.check_map(cred, db, false)?;
        self.page_of(db)
    }

    pub fn check_map(&self, cred: Cred, db: Db, writable: bool) -> Result<PageId, Error> {
        let a = *self.reg.get(db).ok_or(Error::NotInCore)?;
        let page = a.page().ok_or(Error::NotInCore)?;
        if writable && a.type_id() != TypeId::DB {
            return Err(Error::AccessDenied);
        }
        let op = if writable { AclOp::Write } else { AclOp::Read };
        self.check_access(cred, db, op, db, None)?;
        Ok(page)
    }
}
