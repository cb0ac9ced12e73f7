//! XN's secure bindings of cached blocks (thesis §4.4: access is checked
//! "when the page is inserted into the page table of the libFS's
//! environment, rather than on every access"): a buffer-cache page mapped
//! read-only into an environment once the block's acl-uf let it read.
//! Every binding is recorded here, so that a page leaving the cache is
//! unmapped everywhere before its frame is reused.
//!
//! The table is fixed (no allocation); an environment holds at most
//! `PER_ENV` bindings, so none can take them all. A binding pins nothing:
//! when XN frees a page, its bindings are condemned, and the page returns
//! to the allocator only once `reap` has unmapped them.

use crate::env::Kernel;
use crate::mem::frames::{self, PAGES};
use crate::mem::paging::Prot;
use crate::mem::PAGE_SIZE;
use exo_abi::env::{env_slot, Resource::Pages, NENV};
use exo_abi::syscall::Error;
use spin::Mutex;

/// Entries of the table (a power of two), and bindings in all (at most
/// half full, so that probes stay short).
const SLOTS: usize = 4096;
const MAPS: usize = SLOTS / 2;
/// Bindings one environment may hold.
pub const PER_ENV: u16 = 512;

#[derive(Clone, Copy)]
struct Binding {
    ppn: u64,
    va: u64,
    /// The environment's id; 0: a free entry.
    env: u32,
    /// The page has left the cache: unmap, then free it.
    condemned: bool,
}

/// Bindings in an open-addressing hash table on (environment, address):
/// binding, replacing and forgetting one cost a probe or two, not a scan.
struct Table {
    b: [Binding; SLOTS],
    count: usize,
    /// Bindings held, by environment slot.
    held: [u16; NENV],
    /// Condemned bindings (`reap` has work).
    condemned: usize,
}

const FREE: Binding = Binding {
    ppn: 0,
    va: 0,
    env: 0,
    condemned: false,
};

static TABLE: Mutex<Table> = Mutex::new(Table {
    b: [FREE; SLOTS],
    count: 0,
    held: [0; NENV],
    condemned: 0,
});

/// Where the binding of `va` in `env` is looked for first.
fn home(env: u32, va: u64) -> usize {
    let h = (va >> 12).wrapping_add((env as u64) << 40);
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize & (SLOTS - 1)
}

impl Table {
    fn find(&self, env: u32, va: u64) -> Option<usize> {
        let mut i = home(env, va);
        loop {
            let b = &self.b[i];
            if b.env == 0 {
                return None;
            }
            if b.env == env && b.va == va {
                return Some(i);
            }
            i = (i + 1) & (SLOTS - 1);
        }
    }

    fn insert(&mut self, b: Binding) {
        let mut i = home(b.env, b.va);
        while self.b[i].env != 0 {
            i = (i + 1) & (SLOTS - 1);
        }
        self.b[i] = b;
        self.count += 1;
        self.held[env_slot(b.env)] += 1;
    }

    /// Removes entry `i`, moving later entries of its probe run back so
    /// that every binding stays reachable from its home.
    fn remove(&mut self, mut i: usize) {
        let gone = self.b[i];
        if let Some(h) = self.held.get_mut(env_slot(gone.env)) {
            *h = h.saturating_sub(1);
        }
        self.count -= 1;
        if gone.condemned {
            self.condemned -= 1;
        }
        self.b[i] = FREE;
        let mut j = i;
        loop {
            j = (j + 1) & (SLOTS - 1);
            let b = self.b[j];
            if b.env == 0 {
                return;
            }
            // Leave it if its home lies cyclically in (i, j].
            let k = home(b.env, b.va);
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.b[i] = b;
                self.b[j] = FREE;
                i = j;
            }
        }
    }
}

/// Maps cache page `ppn` read-only at `va` in environment `slot` (XN has
/// checked the block's acl-uf), recording the binding; the page tables it
/// needs are charged to the environment.
pub fn bind(k: &mut Kernel, slot: usize, ppn: u64, va: u64) -> Result<(), Error> {
    let id = k.info(slot).id;
    let mut t = TABLE.lock();
    // A binding at `va` already is replaced, so it does not count.
    let replaced = t.find(id, va);
    if replaced.is_none() && t.held[slot] >= PER_ENV {
        return Err(Error::Quota);
    }
    if replaced.is_none() && t.count >= MAPS {
        return Err(Error::NoMem);
    }
    let space = k.envs[slot].space.as_ref().ok_or(Error::NoEnv)?;
    let (tables, needed) = (space.tables(), space.tables_needed(va));
    k.charge(slot, Pages, needed)?;
    let unref = |ppn| {
        if let Some(p) = PAGES.lock().as_mut() {
            p.unref(ppn)
        }
    };
    let counted = PAGES
        .lock()
        .as_mut()
        .map_or(Err(Error::Denied), |p| p.kernel_map_ref(ppn));
    let mapped = counted.and_then(|()| {
        let prot = Prot {
            writable: false,
            executable: false,
            soft: 0,
        };
        let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
        space.map(va, ppn * PAGE_SIZE, prot).map_err(|_| {
            unref(ppn);
            Error::NoMem
        })
    });
    let made = k.envs[slot]
        .space
        .as_ref()
        .map_or(0, |s| s.tables() - tables);
    k.uncharge(slot, Pages, needed.saturating_sub(made));
    if let Some(old) = mapped?.map(|pa| pa / PAGE_SIZE) {
        unref(old);
    }
    if let Some(i) = t.find(id, va) {
        t.remove(i);
    }
    t.insert(Binding {
        ppn,
        va,
        env: id,
        condemned: false,
    });
    Ok(())
}

/// Environment `id` unmapped (or replaced) cache page `ppn` at `va`.
pub fn forget(id: u32, va: u64, ppn: u64) {
    let mut t = TABLE.lock();
    if let Some(i) = t.find(id, va).filter(|&i| t.b[i].ppn == ppn) {
        t.remove(i);
    }
}

/// Environment `id` ended (its address space, mappings and all, is gone).
pub fn forget_env(id: u32) {
    let mut t = TABLE.lock();
    if t.held.get(env_slot(id)).is_none_or(|&h| h == 0) {
        return;
    }
    let mut i = 0;
    while i < SLOTS {
        if t.b[i].env == id {
            t.remove(i); // an entry moved back into `i` is looked at next
        } else {
            i += 1;
        }
    }
}

/// XN let go of cache page `ppn`: whether someone maps it, in which case
/// its bindings are condemned and `reap` frees it (not the caller).
pub fn condemn(ppn: u64) -> bool {
    let mut t = TABLE.lock();
    let mut n = 0;
    for b in
        t.b.iter_mut()
            .filter(|b| b.env != 0 && b.ppn == ppn && !b.condemned)
    {
        b.condemned = true;
        n += 1;
    }
    t.condemned += n;
    n > 0 || t.b.iter().any(|b| b.env != 0 && b.ppn == ppn)
}

/// Unmaps every condemned binding, and frees each condemned page once no
/// binding of it is left. Runs after each XN call (which is where XN lets
/// pages go).
pub fn reap(k: &mut Kernel) {
    let mut t = TABLE.lock();
    if t.condemned == 0 {
        return;
    }
    let mut i = 0;
    while i < SLOTS {
        let b = t.b[i];
        if b.env == 0 || !b.condemned {
            i += 1;
            continue;
        }
        if let Ok(slot) = k.slot_of(b.env) {
            if let Some(space) = k.envs[slot].space.as_mut() {
                if space.lookup(b.va) == Some(b.ppn * PAGE_SIZE) && space.unmap(b.va).is_ok() {
                    if let Some(p) = PAGES.lock().as_mut() {
                        p.unref(b.ppn);
                    }
                }
            }
        }
        t.remove(i); // an entry moved back into `i` is looked at next
        if !t.b.iter().any(|o| o.env != 0 && o.ppn == b.ppn) {
            frames::free(b.ppn * PAGE_SIZE);
        }
    }
}
