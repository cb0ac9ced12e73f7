//! Budgets (`exo_abi::env::Quota`): every page an environment holds (its
//! page tables and the cache pages XN reads for it included), every
//! environment it creates and every time slice it holds is charged to it
//! and to each of its ancestors, and must fit under every one of their
//! limits. Running out is `Error::Quota` to the caller; the kernel keeps
//! back what its own tables and XN's cache need, so no environment can make
//! a kernel allocation fail for another.

use super::Kernel;
use crate::syscalls::{done, Cx, SysResult};
use exo_abi::env::{Resource, NENV};
use exo_abi::syscall::{args, Error};

/// Longest ancestor chain walked (there are only NENV environments).
const MAX_DEPTH: usize = NENV;

impl Kernel {
    /// Environment `slot` and its live ancestors, nearest first.
    fn chain(&self, slot: usize) -> impl Iterator<Item = usize> + '_ {
        let mut next = Some(slot);
        core::iter::from_fn(move || {
            let s = next?;
            let parent = self.info(s).parent;
            next = self.slot_of(parent).ok().filter(|&p| p != s);
            Some(s)
        })
        .take(MAX_DEPTH)
    }

    /// Whether `n` more of `r` fit under the limits of `slot` and every
    /// ancestor.
    pub fn fits(&self, slot: usize, r: Resource, n: u64) -> bool {
        self.chain(slot)
            .all(|s| self.info(s).quota.get(r).headroom() >= n)
    }

    /// Charges `n` of `r` to `slot` if they fit under its limit and every
    /// ancestor's.
    pub fn charge(&mut self, slot: usize, r: Resource, n: u64) -> Result<(), Error> {
        if n == 0 {
            return Ok(());
        }
        if !self.fits(slot, r, n) {
            return Err(Error::Quota);
        }
        self.force_charge(slot, r, n);
        Ok(())
    }

    /// Charges `n` of `r` the environment already holds (a page coming
    /// back to it), limits or not.
    pub fn force_charge(&mut self, slot: usize, r: Resource, n: u64) {
        self.adjust(slot, r, |v| v.saturating_add(n));
    }

    /// Returns `n` of `r` from `slot` and its ancestors.
    pub fn uncharge(&mut self, slot: usize, r: Resource, n: u64) {
        if n == 0 {
            return; // most mappings need no new page table: nothing to walk
        }
        self.adjust(slot, r, |v| v.saturating_sub(n));
    }

    /// Applies `f` to `slot`'s own charge of `r` and to the subtree charge
    /// of `slot` and each ancestor.
    fn adjust(&mut self, slot: usize, r: Resource, f: impl Fn(u64) -> u64) {
        let mut chain = [0usize; MAX_DEPTH];
        let mut len = 0;
        for s in self.chain(slot) {
            chain[len] = s;
            len += 1;
        }
        for &s in &chain[..len] {
            let b = self.info_mut(s).quota.get_mut(r);
            b.subtree = f(b.subtree);
        }
        let b = self.info_mut(slot).quota.get_mut(r);
        b.own = f(b.own);
    }

    /// The first environment's limits: what the kernel does not keep.
    pub fn root_quota(&self) -> exo_abi::env::Quota {
        let limit = |limit| exo_abi::env::Budget {
            limit,
            ..Default::default()
        };
        exo_abi::env::Quota {
            pages: limit(self.root_pages),
            envs: limit(NENV as u64 - 1),
            slices: limit(exo_abi::env::NSLICES as u64),
            filters: limit(crate::dpf::filters_in_all()),
        }
    }

    /// Uncharges environment `id`, if it is alive.
    pub fn uncharge_id(&mut self, id: u32, r: Resource, n: u64) {
        if let Ok(s) = self.slot_of(id) {
            self.uncharge(s, r, n);
        }
    }

    /// An environment that ends gives up its whole charge, and its children
    /// pass to its parent, whose budget already covers them.
    pub fn settle_exit(&mut self, slot: usize) {
        for r in Resource::ALL {
            let own = self.info(slot).quota.get(r).own;
            self.uncharge(slot, r, own);
        }
        let (id, parent) = (self.info(slot).id, self.info(slot).parent);
        for s in 1..NENV {
            if s != slot && self.info(s).parent == id {
                self.info_mut(s).parent = parent;
            }
        }
    }
}

pub fn sys_quota_set(cx: &mut Cx<'_>, a: args::QuotaSet) -> SysResult {
    let target = cx.k.control(a.env, a.cap)?;
    if target == cx.k.current {
        return Err(Error::Invalid);
    }
    if a.limit > cx.k.info(cx.k.current).quota.get(a.resource).limit {
        return Err(Error::Quota);
    }
    cx.k.info_mut(target).quota.get_mut(a.resource).limit = a.limit;
    done()
}
