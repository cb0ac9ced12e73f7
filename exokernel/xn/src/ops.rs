//! Metadata operations (§8 B.4): alloc, free, add_edge. Each runs the inductive check
//! of §4.1 on the parent (owns before and after the proposed byte-range modification),
//! the acl-ufs involved, and reference-count checks on the child, and only then commits.

use crate::disk::Disk;
use crate::error::Error;
use crate::meta::{apply_mods, Delta};
use crate::owns::{self, OwnsSet};
use crate::registry::{self, state, PageStore, Registry};
use crate::udf::AclOp;
use crate::xn::{Cred, Init, Mod, Update, Xn};
use crate::{Db, TypeId};
use alloc::vec::Vec;

impl<D: Disk, P: PageStore> Xn<D, P> {
    /// `sys_xn_alloc`: allocate `u`'s extent as children of `parent`, applying `mv` to
    /// `parent`. The extent must be free; `parent`'s acl-uf must allow it; owns partition
    /// `u.own_id` must grow by exactly the extent (with type `u.ty`) and nothing else may
    /// change. A metadata child starts as `init`, which must own nothing and, if the type
    /// counts references, count exactly one (this edge). Children are *uninitialized*
    /// until written, which taints `parent`.
    pub fn alloc(
        &mut self,
        cred: Cred,
        parent: Db,
        u: Update,
        mv: &[Mod],
        init: Init,
    ) -> Result<(), Error> {
        self.writable()?;
        if !self.types.usable(u.ty) {
            return Err(Error::BadType);
        }
        if u.ty != TypeId::DB && u.nblocks != 1 {
            return Err(Error::BadType);
        }
        self.check_extent(u.db, u.nblocks)?;
        self.check_lock(cred, parent)?;
        let (_, tpl) = self.meta_template(parent)?;
        let old = *self.page_of(parent)?;
        let new = apply_mods(&old, mv)?;
        self.check_access(cred, parent, AclOp::Alloc, u.db, Some(&new))?;
        let delta: OwnsSet = (u.db..u.db + u.nblocks).map(|b| (b, u.ty)).collect();
        self.verify_delta(tpl, parent, &old, &new, u.own_id, mv, &delta, Delta::Add)?;
        let kimg = init.block()?;
        if let Some(kt) = self.types.get(u.ty) {
            if !owns::owns_set(kt, &kimg, u.db)?.is_empty() {
                return Err(Error::BogusUpdate);
            }
            if let Some((rc, _)) = owns::refcnt(kt, &kimg, u.db)? {
                if rc != 1 {
                    return Err(Error::BogusUpdate);
                }
            }
        }
        let pages = self.alloc_pages(u.nblocks)?;
        // Checks passed: commit.
        let pattr = *self.reg.get(parent).ok_or(Error::NotInCore)?;
        self.set_page(parent, &new)?;
        let temporary = pattr.has(state::TEMPORARY);
        for (i, b) in (u.db..u.db + u.nblocks).enumerate() {
            self.free.set(b, true);
            if let Some(p) = self.pages.page_mut(pages[i]) {
                *p = kimg;
            }
            let mut st = state::DIRTY | state::UNINIT;
            if temporary {
                st |= state::TEMPORARY;
                self.temp_blocks.insert(b);
            }
            let mut attr = Registry::new_attr(b, u.ty, st);
            attr.page = pages[i];
            attr.parent = parent;
            attr.root = pattr.root;
            // The disk holds garbage here, not this block: it points nowhere.
            self.reg.insert(registry::Entry {
                attr,
                disk_owns: Some(OwnsSet::new()),
            });
            self.taint.mark_uninit(b);
            self.taint.add_pointer(parent, b);
        }
        self.refresh_taint([parent]);
        Ok(())
    }

    /// `sys_xn_free`: remove `u`'s extent from `parent` by applying `mv` (owns partition
    /// `u.own_id` must shrink by exactly the extent). If the child's type counts
    /// references, `kid_mv` must decrement the count by one; the child dies only at zero,
    /// and then it must own nothing. A dead block whose parent's on-disk image still
    /// points to it waits on the will-free list until that pointer is written away.
    pub fn free(
        &mut self,
        cred: Cred,
        parent: Db,
        u: Update,
        mv: &[Mod],
        kid_mv: &[Mod],
    ) -> Result<(), Error> {
        self.writable()?;
        if u.nblocks == 0 || (u.ty != TypeId::DB && u.nblocks != 1) {
            return Err(Error::BadType);
        }
        self.check_lock(cred, parent)?;
        let (_, tpl) = self.meta_template(parent)?;
        let old = *self.page_of(parent)?;
        let new = apply_mods(&old, mv)?;
        self.check_access(cred, parent, AclOp::Free, u.db, Some(&new))?;
        let end = u.db.checked_add(u.nblocks).ok_or(Error::BadBlock)?;
        let delta: OwnsSet = (u.db..end).map(|b| (b, u.ty)).collect();
        self.verify_delta(tpl, parent, &old, &new, u.own_id, mv, &delta, Delta::Remove)?;
        let mut kid_new = None;
        let mut dies = true;
        match self.types.get(u.ty) {
            Some(kt) if kt.has_refcnt() => {
                self.check_lock(cred, u.db)?;
                let kold = *self.page_of(u.db)?;
                let knew = apply_mods(&kold, kid_mv)?;
                self.check_access(cred, u.db, AclOp::Unlink, parent, Some(&knew))?;
                self.verify_owns_unchanged(kt, u.db, &kold, &knew, kid_mv)?;
                let rc = |img| owns::refcnt(kt, img, u.db).map(|r| r.map_or(0, |(n, _)| n));
                let (before, after) = (rc(&kold)?, rc(&knew)?);
                if before == 0 || after != before - 1 {
                    return Err(Error::BogusUpdate);
                }
                dies = after == 0;
                kid_new = Some(knew);
            }
            _ if !kid_mv.is_empty() => return Err(Error::BadRange),
            _ => {}
        }
        if dies {
            if let Some(kt) = self.types.get(u.ty) {
                // A dying metadata block must own nothing: children are freed bottom-up.
                let img = kid_new
                    .as_ref()
                    .map_or_else(|| self.page_of(u.db).copied(), |k| Ok(*k))?;
                if !owns::owns_set(kt, &img, u.db)?.is_empty() {
                    return Err(Error::NotEmpty);
                }
            }
            for b in u.db..end {
                if self
                    .reg
                    .get(b)
                    .is_some_and(|a| a.has(state::LOCKED) && a.locked_by != cred.env)
                {
                    return Err(Error::Locked);
                }
            }
        }
        // Checks passed: commit.
        self.set_page(parent, &new)?;
        let mut clean = Vec::new();
        for b in u.db..end {
            clean.extend(self.taint.remove_pointer(parent, b));
        }
        clean.push(parent);
        self.refresh_taint(clean);
        if let Some(k) = kid_new {
            self.set_page(u.db, &k)?;
        }
        if dies {
            for b in u.db..end {
                self.release_block(b);
            }
        }
        Ok(())
    }

    /// `sys_xn_add_edge`: a new pointer from `src` (partition `own_id`, modification
    /// `src_mv`) to existing metadata `dst`, whose reference count `dst_mv` must raise by
    /// exactly one. Both acl-ufs must agree; `dst`'s owned set may not change.
    pub fn add_edge(
        &mut self,
        cred: Cred,
        src: Db,
        own_id: u32,
        src_mv: &[Mod],
        dst: Db,
        dst_mv: &[Mod],
    ) -> Result<(), Error> {
        self.writable()?;
        if src == dst {
            return Err(Error::BadBlock);
        }
        self.check_lock(cred, src)?;
        self.check_lock(cred, dst)?;
        let (_, tpl) = self.meta_template(src)?;
        let (dty, dtpl) = self.meta_template(dst)?;
        if !dtpl.has_refcnt() {
            return Err(Error::BadType);
        }
        let (sa, da) = (
            *self.reg.get(src).ok_or(Error::NotInCore)?,
            *self.reg.get(dst).ok_or(Error::NotInCore)?,
        );
        // A persistent tree may not point into a volatile one, nor the reverse.
        if sa.has(state::TEMPORARY) != da.has(state::TEMPORARY) {
            return Err(Error::AccessDenied);
        }
        let old = *self.page_of(src)?;
        let new = apply_mods(&old, src_mv)?;
        self.check_access(cred, src, AclOp::Alloc, dst, Some(&new))?;
        let mut delta = OwnsSet::new();
        delta.insert(dst, dty);
        self.verify_delta(tpl, src, &old, &new, own_id, src_mv, &delta, Delta::Add)?;
        let dold = *self.page_of(dst)?;
        let dnew = apply_mods(&dold, dst_mv)?;
        self.check_access(cred, dst, AclOp::Link, src, Some(&dnew))?;
        self.verify_owns_unchanged(dtpl, dst, &dold, &dnew, dst_mv)?;
        let rc = |img| owns::refcnt(dtpl, img, dst).map(|r| r.map_or(0, |(n, _)| n));
        if rc(&dnew)? != rc(&dold)?.wrapping_add(1) {
            return Err(Error::BogusUpdate);
        }
        self.set_page(src, &new)?;
        self.set_page(dst, &dnew)?;
        self.taint.add_pointer(src, dst);
        self.refresh_taint([src]);
        Ok(())
    }
}
