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
use exo_abi::pages::KERNEL;
use exo_abi::syscall::Error;
use spin::Mutex;

/// Bindings in all.
const MAPS: usize = 2048;
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

struct Table {
    b: [Binding; MAPS],
    /// Bindings held, by environment slot.
    held: [u16; NENV],
}

const FREE: Binding = Binding {
    ppn: 0,
    va: 0,
    env: 0,
    condemned: false,
};

static TABLE: Mutex<Table> = Mutex::new(Table {
    b: [FREE; MAPS],
    held: [0; NENV],
});

impl Table {
    fn remove(&mut self, i: usize) {
        let slot = env_slot(self.b[i].env);
        if let Some(h) = self.held.get_mut(slot) {
            *h = h.saturating_sub(1);
        }
        self.b[i] = FREE;
    }
}

/// Whether `ppn` is a kernel page, as XN's cache pages are: the only ones
/// environments map that they do not own.
pub fn is_cache_page(ppn: u64) -> bool {
    PAGES
        .lock()
        .as_ref()
        .and_then(|p| p.get(ppn))
        .is_some_and(|r| r.owner == KERNEL)
}

/// Maps cache page `ppn` read-only at `va` in environment `slot` (XN has
/// checked the block's acl-uf), recording the binding; the page tables it
/// needs are charged to the environment.
pub fn bind(k: &mut Kernel, slot: usize, ppn: u64, va: u64) -> Result<(), Error> {
    let id = k.info(slot).id;
    let mut t = TABLE.lock();
    if t.held[slot] >= PER_ENV {
        return Err(Error::Quota);
    }
    let free = t.b.iter().position(|b| b.env == 0).ok_or(Error::NoMem)?;
    let space = k.envs[slot].space.as_ref().ok_or(Error::NoEnv)?;
    let (tables, needed) = (space.tables(), space.tables_needed(va));
    k.charge(slot, Pages, needed)?;
    let records = |f: &mut dyn FnMut(&mut exo_kcore::pages::Pages<'static>)| {
        if let Some(p) = PAGES.lock().as_mut() {
            f(p)
        }
    };
    let mut counted = Err(Error::Denied);
    records(&mut |p| counted = p.kernel_map_ref(ppn));
    let mapped = counted.and_then(|()| {
        let prot = Prot {
            writable: false,
            executable: false,
            soft: 0,
        };
        let space = k.envs[slot].space.as_mut().ok_or(Error::NoEnv)?;
        space.map(va, ppn * PAGE_SIZE, prot).map_err(|_| {
            records(&mut |p| p.unref(ppn));
            Error::NoMem
        })
    });
    let made = k.envs[slot].space.as_ref().map_or(0, |s| s.tables() - tables);
    k.uncharge(slot, Pages, needed.saturating_sub(made));
    let old = mapped?;
    if let Some(old) = old.map(|pa| pa / PAGE_SIZE) {
        records(&mut |p| p.unref(old));
        if let Some(i) = t
            .b
            .iter()
            .position(|b| b.env == id && b.va == va && b.ppn == old)
        {
            t.remove(i);
        }
    }
    t.b[free] = Binding {
        ppn,
        va,
        env: id,
        condemned: false,
    };
    t.held[slot] += 1;
    Ok(())
}

/// Environment `id` unmapped (or replaced) cache page `ppn` at `va`.
pub fn forget(id: u32, va: u64, ppn: u64) {
    let mut t = TABLE.lock();
    if let Some(i) = t
        .b
        .iter()
        .position(|b| b.env == id && b.va == va && b.ppn == ppn)
    {
        t.remove(i);
    }
}

/// Environment `id` ended (its address space, mappings and all, is gone).
pub fn forget_env(id: u32) {
    let mut t = TABLE.lock();
    if t.held.get(env_slot(id)).is_none_or(|&h| h == 0) {
        return;
    }
    for i in 0..MAPS {
        if t.b[i].env == id {
            t.remove(i);
        }
    }
}

/// XN let go of cache page `ppn`: whether someone maps it, in which case
/// its bindings are condemned and `reap` frees it (not the caller).
pub fn condemn(ppn: u64) -> bool {
    let mut t = TABLE.lock();
    let mut any = false;
    for b in t.b.iter_mut().filter(|b| b.env != 0 && b.ppn == ppn) {
        b.condemned = true;
        any = true;
    }
    any
}

/// Unmaps every condemned binding, and frees each condemned page once no
/// binding of it is left. Runs after each XN call (which is where XN lets
/// pages go).
pub fn reap(k: &mut Kernel) {
    let mut t = TABLE.lock();
    for i in 0..MAPS {
        let b = t.b[i];
        if b.env == 0 || !b.condemned {
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
        t.remove(i);
        if !t.b.iter().any(|o| o.env != 0 && o.ppn == b.ppn) {
            frames::free(b.ppn * PAGE_SIZE);
        }
    }
}
