//! Page budgets (`exo_abi::env::Quota`): every page an environment holds,
//! its page tables and the cache pages XN reads for it included, is charged
//! to it and to each of its ancestors, and must fit under every one of their
//! limits. Running out is `Error::Quota` to the caller; the kernel keeps
//! back what its own tables and XN's cache need, so no environment can make
//! a kernel allocation fail for another.

use super::Kernel;
use crate::syscalls::{done, Cx, SysResult};
use exo_abi::env::NENV;
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

    /// Whether `n` more pages fit under the limits of `slot` and every
    /// ancestor.
    pub fn fits(&self, slot: usize, n: u64) -> bool {
        self.chain(slot).all(|s| self.info(s).quota.headroom() >= n)
    }

    /// Charges `n` pages to `slot` if they fit under its limit and every
    /// ancestor's.
    pub fn charge(&mut self, slot: usize, n: u64) -> Result<(), Error> {
        if n == 0 {
            return Ok(());
        }
        if !self.fits(slot, n) {
            return Err(Error::Quota);
        }
        self.force_charge(slot, n);
        Ok(())
    }

    /// Charges `n` pages the environment already holds (a page coming
    /// back to it), limits or not.
    pub fn force_charge(&mut self, slot: usize, n: u64) {
        let mut chain = [0usize; MAX_DEPTH];
        let mut len = 0;
        for s in self.chain(slot) {
            chain[len] = s;
            len += 1;
        }
        for &s in &chain[..len] {
            let q = &mut self.info_mut(s).quota;
            q.subtree = q.subtree.saturating_add(n);
        }
        let q = &mut self.info_mut(slot).quota;
        q.own = q.own.saturating_add(n);
    }

    /// Returns `n` pages' charge from `slot` and its ancestors.
    pub fn uncharge(&mut self, slot: usize, n: u64) {
        let mut chain = [0usize; MAX_DEPTH];
        let mut len = 0;
        for s in self.chain(slot) {
            chain[len] = s;
            len += 1;
        }
        for &s in &chain[..len] {
            let q = &mut self.info_mut(s).quota;
            q.subtree = q.subtree.saturating_sub(n);
        }
        let q = &mut self.info_mut(slot).quota;
        q.own = q.own.saturating_sub(n);
    }

    /// Uncharges environment `id`, if it is alive.
    pub fn uncharge_id(&mut self, id: u32, n: u64) {
        if let Ok(s) = self.slot_of(id) {
            self.uncharge(s, n);
        }
    }

    /// An environment that ends gives up its whole charge, and its children
    /// pass to its parent, whose budget already covers them.
    pub fn settle_exit(&mut self, slot: usize) {
        let own = self.info(slot).quota.own;
        self.uncharge(slot, own);
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
    if a.pages > cx.k.info(cx.k.current).quota.limit {
        return Err(Error::Quota);
    }
    cx.k.info_mut(target).quota.limit = a.pages;
    done()
}
