//! Visible revocation (thesis §3.3.5): an environment is asked to give
//! pages back by a deadline through its revocation upcall; past it, the
//! abort protocol takes them and records which were taken where the
//! environment can see.

use super::{now, Kernel};
use crate::kprintln;
use crate::mem::frames::PAGES;
use crate::mem::PAGE_SIZE;
use crate::syscalls::{done, Cx, SysResult};
use exo_abi::env::{Resource, MAX_TAKEN, NENV};
use exo_abi::syscall::args;

impl Kernel {
    /// The abort protocol: takes, from each environment whose revocation
    /// deadline passed, the pages it still owes, and records them.
    pub fn check_revocations(&mut self) {
        let t = now();
        for slot in 1..NENV {
            let r = &mut self.info_mut(slot).revocation;
            if r.requested == 0 {
                continue;
            }
            if r.returned >= r.requested {
                r.requested = 0;
                continue;
            }
            if t < r.deadline {
                continue;
            }
            let owed = (r.requested - r.returned) as usize;
            self.abort(slot, owed.min(MAX_TAKEN));
        }
    }

    /// Takes up to `owed` of environment `slot`'s pages.
    fn abort(&mut self, slot: usize, owed: usize) {
        let id = self.info(slot).id;
        let mut victims = [0u64; MAX_TAKEN];
        let mut n = 0;
        {
            let pages = PAGES.lock();
            for ppn in pages
                .as_ref()
                .expect("page records are built at boot")
                .owned_by(id)
            {
                if n == owed {
                    break;
                }
                victims[n] = ppn;
                n += 1;
            }
        }
        let mut taken = 0;
        for &ppn in &victims[..n] {
            let unmapped = match self.envs[slot].space.as_mut() {
                Some(space) => space.unmap_frame(ppn * PAGE_SIZE),
                None => 0,
            };
            let repossessed = {
                let mut pages = PAGES.lock();
                let pages = pages.as_mut().expect("page records are built at boot");
                for _ in 0..unmapped {
                    pages.unref(ppn);
                }
                pages.repossess(ppn, id).is_ok()
            };
            if repossessed {
                self.info_mut(slot).revocation.taken[taken] = ppn;
                taken += 1;
            }
        }
        self.uncharge(slot, Resource::Pages, taken as u64);
        let r = &mut self.info_mut(slot).revocation;
        r.taken_count = taken as u32;
        r.requested = 0;
        kprintln!("exo: abort protocol: took {taken} page(s) from environment {id:#x}");
        crate::trace::emit(
            exo_abi::trace::class::MEM,
            exo_abi::trace::event::ABORT,
            slot,
            taken as u64,
            id as u64,
        );
    }
}

/// `revoke`: ask `env` for `npages` pages within `ticks`.
pub fn sys_revoke(cx: &mut Cx<'_>, a: args::Revoke) -> SysResult {
    let slot = cx.k.control(a.env, a.cap)?;
    let (env, info) = cx.k.parts_mut(slot);
    info.revocation = Default::default();
    info.revocation.requested = a.npages.get() as u32;
    info.revocation.deadline = now().saturating_add(a.ticks);
    env.revoke_pending = info.entries.revoke != 0;
    done()
}
