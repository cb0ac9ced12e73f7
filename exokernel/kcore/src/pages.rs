//! Physical page records: who owns each page, how many mappings it has, and
//! the capability guarding it. Every operation checks the caller's capability
//! against the guard before changing anything.

use crate::Error;
use exo_abi::cap::{Cap, PERM_READ, PERM_WRITE};
use exo_abi::pages::{PageInfo, FREE, KERNEL, NOT_RAM, ORPHAN, PUBLIC};

/// The record table; index = physical page number.
pub struct Pages<'a> {
    recs: &'a mut [PageInfo],
    /// Kernel-private, beside each record: its neighbours in its owner's
    /// list, so that an ending environment's pages are found without
    /// reading every record (a scan cost more than a whole fork+exec).
    links: &'a mut [Link],
    /// The first page of each owner's list, by `list_of`.
    heads: [u32; LISTS],
    /// Where the kernel's next search for a free page starts.
    cursor: usize,
}

/// A page's neighbours in its owner's list.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    prev: u32,
    next: u32,
}

/// No page.
const NIL: u32 = u32::MAX;
/// Owner lists: environment ids end in their table slot, below this.
const LISTS: usize = 256;

/// The list an owner's pages are on: none for the owner values that are
/// not environments.
fn list_of(owner: u32) -> Option<usize> {
    (owner != FREE && owner < PUBLIC).then_some(owner as usize % LISTS)
}

impl<'a> Pages<'a> {
    /// Wraps `recs` (with `links`, as many), marking every page not RAM
    /// until `add_ram` says otherwise.
    pub fn new(recs: &'a mut [PageInfo], links: &'a mut [Link]) -> Self {
        for r in recs.iter_mut() {
            *r = PageInfo {
                owner: NOT_RAM,
                refs: 0,
                guard: Cap::NONE,
                reader: Cap::NONE,
            };
        }
        for l in links.iter_mut() {
            *l = Link {
                prev: NIL,
                next: NIL,
            };
        }
        let n = recs.len().min(links.len());
        Pages {
            recs: &mut recs[..n],
            links: &mut links[..n],
            heads: [NIL; LISTS],
            cursor: 0,
        }
    }

    /// Gives page `ppn` (an index in range) to `owner`, moving it between
    /// owners' lists.
    fn set_owner(&mut self, ppn: usize, owner: u32) {
        let old = self.recs[ppn].owner;
        if old == owner {
            return;
        }
        if let Some(list) = list_of(old) {
            let Link { prev, next } = self.links[ppn];
            match prev {
                NIL => self.heads[list] = next,
                p => self.links[p as usize].next = next,
            }
            if next != NIL {
                self.links[next as usize].prev = prev;
            }
            self.links[ppn] = Link {
                prev: NIL,
                next: NIL,
            };
        }
        if let Some(list) = list_of(owner) {
            let next = self.heads[list];
            if next != NIL {
                self.links[next as usize].prev = ppn as u32;
            }
            self.links[ppn] = Link { prev: NIL, next };
            self.heads[list] = ppn as u32;
        }
        self.recs[ppn].owner = owner;
    }

    /// The pages on `env`'s list that `env` owns.
    fn list(&self, env: u32) -> impl Iterator<Item = usize> + '_ {
        let mut at = list_of(env).map_or(NIL, |l| self.heads[l]);
        core::iter::from_fn(move || {
            while at != NIL {
                let ppn = at as usize;
                at = self.links[ppn].next;
                if self.recs[ppn].owner == env {
                    return Some(ppn);
                }
            }
            None
        })
    }

    fn index(&self, ppn: u64) -> Result<usize, Error> {
        usize::try_from(ppn)
            .ok()
            .filter(|&i| i < self.recs.len())
            .ok_or(Error::Invalid)
    }

    /// Marks pages `[first, end)` as free RAM.
    pub fn add_ram(&mut self, first: usize, end: usize) {
        for r in self.recs.iter_mut().take(end).skip(first) {
            r.owner = FREE;
        }
    }

    /// Marks a page as the kernel's (boot-time reservations).
    pub fn reserve(&mut self, ppn: usize) {
        if ppn < self.recs.len() {
            self.reset(ppn, KERNEL, Cap::NONE);
        }
    }

    /// Makes a kernel page public: anyone may map it read-only, no one
    /// may change it (boot-time, for the initrd).
    pub fn make_public(&mut self, ppn: usize) {
        if let Some(r) = self.recs.get_mut(ppn).filter(|r| r.owner == KERNEL) {
            r.owner = PUBLIC;
        }
    }

    pub fn get(&self, ppn: u64) -> Option<&PageInfo> {
        self.recs.get(usize::try_from(ppn).ok()?)
    }

    fn rec(&mut self, ppn: u64) -> Result<&mut PageInfo, Error> {
        usize::try_from(ppn)
            .ok()
            .and_then(|i| self.recs.get_mut(i))
            .ok_or(Error::Invalid)
    }

    /// Allocates a free page for the kernel itself.
    pub fn alloc_kernel(&mut self) -> Option<u64> {
        let n = self.recs.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            if self.recs[i].owner == FREE {
                self.recs[i].owner = KERNEL;
                self.cursor = i + 1;
                return Some(i as u64);
            }
        }
        None
    }

    /// Returns a kernel page to the free list (one still mapped somewhere
    /// stays the kernel's: never reused while anyone can reach it).
    pub fn free_kernel(&mut self, ppn: u64) {
        if let Ok(r) = self.rec(ppn) {
            if r.owner == KERNEL && r.refs == 0 {
                r.owner = FREE;
            }
        }
    }

    /// Counts a mapping of a kernel page that the kernel itself grants
    /// after its own check (XN binding a buffer-cache page); any other
    /// page is Denied.
    pub fn kernel_map_ref(&mut self, ppn: u64) -> Result<(), Error> {
        let r = self.rec(ppn)?;
        if r.owner != KERNEL {
            return Err(Error::Denied);
        }
        r.refs = r.refs.checked_add(1).ok_or(Error::NoMem)?;
        Ok(())
    }

    /// Makes page `i` (in range) `owner`'s with `guard`, unmapped and unshared.
    fn reset(&mut self, i: usize, owner: u32, guard: Cap) {
        self.set_owner(i, owner);
        self.recs[i] = PageInfo {
            owner,
            refs: 0,
            guard,
            reader: Cap::NONE,
        };
    }

    /// Allocates any free page for `env` (the kernel loading its first program).
    pub fn alloc_any(&mut self, env: u32, guard: &Cap) -> Option<u64> {
        let ppn = self.alloc_kernel()?;
        self.reset(ppn as usize, env, *guard);
        Some(ppn)
    }

    /// `p_alloc`: `env` takes the named page, guarded by `guard` (a capability
    /// the caller holds).
    pub fn alloc(&mut self, ppn: u64, env: u32, guard: &Cap) -> Result<(), Error> {
        if !guard.is_valid() {
            return Err(Error::Denied);
        }
        let i = self.index(ppn)?;
        match self.recs[i].owner {
            FREE => {
                self.reset(i, env, *guard);
                Ok(())
            }
            NOT_RAM => Err(Error::Invalid),
            _ => Err(Error::Taken),
        }
    }

    /// Checks that `cap` may act on an allocated user page with `need`.
    fn check(&self, ppn: u64, cap: &Cap, need: u8) -> Result<(), Error> {
        let r = self.get(ppn).ok_or(Error::Invalid)?;
        match r.owner {
            FREE | KERNEL | NOT_RAM | ORPHAN => Err(Error::Denied),
            PUBLIC if need == PERM_READ => Ok(()),
            PUBLIC => Err(Error::Denied),
            _ if cap.allows(&r.guard, need) => Ok(()),
            // Read-only use is also open to whoever holds the reader.
            _ if need == PERM_READ && cap.allows(&r.reader, PERM_READ) => Ok(()),
            _ => Err(Error::Denied),
        }
    }

    /// `p_share`: lets holders of `reader` (read permission on it) map the
    /// page read-only; `cap` must dominate the guard with write permission.
    pub fn share_read(&mut self, ppn: u64, cap: &Cap, reader: Cap) -> Result<(), Error> {
        self.check(ppn, cap, PERM_WRITE)?;
        self.rec(ppn)?.reader = reader;
        Ok(())
    }

    /// `p_free`: gives back a page; `cap` must dominate its guard with write
    /// permission and no mapping of it may remain.
    pub fn free(&mut self, ppn: u64, cap: &Cap) -> Result<u32, Error> {
        self.check(ppn, cap, PERM_WRITE)?;
        let i = self.index(ppn)?;
        if self.recs[i].refs != 0 {
            return Err(Error::Busy);
        }
        let owner = self.recs[i].owner;
        self.reset(i, FREE, Cap::NONE);
        Ok(owner)
    }

    /// `p_grant`: makes `to` the page's owner.
    pub fn grant(&mut self, ppn: u64, cap: &Cap, to: u32) -> Result<(), Error> {
        self.check(ppn, cap, PERM_WRITE)?;
        if list_of(to).is_none() {
            return Err(Error::Invalid); // not an environment
        }
        let i = self.index(ppn)?;
        self.set_owner(i, to);
        Ok(())
    }

    /// Hands an environment's page to the kernel (XN reads a disk block into
    /// it and keeps it in the buffer cache): `env` must own it, `cap` must
    /// dominate its guard with write permission, and nothing may map it.
    /// Returns the old guard, for [`Pages::return_from_kernel`].
    pub fn take_for_kernel(&mut self, ppn: u64, env: u32, cap: &Cap) -> Result<Cap, Error> {
        self.check(ppn, cap, PERM_WRITE)?;
        let i = self.index(ppn)?;
        let r = &self.recs[i];
        if r.owner != env {
            return Err(Error::Denied);
        }
        if r.refs != 0 {
            return Err(Error::Busy);
        }
        let guard = r.guard;
        self.reset(i, KERNEL, Cap::NONE);
        Ok(guard)
    }

    /// Gives a page taken with [`Pages::take_for_kernel`] back, unused.
    pub fn return_from_kernel(&mut self, ppn: u64, env: u32, guard: Cap) {
        if let Ok(i) = self.index(ppn) {
            if self.recs[i].owner == KERNEL && list_of(env).is_some() {
                self.reset(i, env, guard);
            }
        }
    }

    /// Checks a mapping request and counts the new mapping.
    pub fn map_ref(&mut self, ppn: u64, cap: &Cap, writable: bool) -> Result<(), Error> {
        let need = if writable {
            PERM_READ | PERM_WRITE
        } else {
            PERM_READ
        };
        self.check(ppn, cap, need)?;
        let r = self.rec(ppn)?;
        r.refs = r.refs.checked_add(1).ok_or(Error::NoMem)?;
        Ok(())
    }

    /// Checks that `cap` may keep (or change the rights of) a mapping.
    pub fn check_protect(&self, ppn: u64, cap: &Cap, writable: bool) -> Result<(), Error> {
        let need = if writable {
            PERM_READ | PERM_WRITE
        } else {
            PERM_READ
        };
        let r = self.get(ppn).ok_or(Error::Invalid)?;
        if r.owner == ORPHAN && !writable {
            return Ok(()); // a surviving reader may still narrow its mapping
        }
        self.check(ppn, cap, need)
    }

    /// Holds an environment's page for a device that reads it (like one more
    /// mapping: it cannot be freed until [`Pages::unref`]).
    pub fn pin(&mut self, ppn: u64) -> Result<(), Error> {
        let r = self.rec(ppn)?;
        match r.owner {
            FREE | KERNEL | NOT_RAM => Err(Error::Denied),
            _ => {
                r.refs = r.refs.checked_add(1).ok_or(Error::NoMem)?;
                Ok(())
            }
        }
    }

    /// Drops one mapping; an orphaned page is freed with its last mapping.
    pub fn unref(&mut self, ppn: u64) {
        if let Ok(i) = self.index(ppn) {
            let r = &mut self.recs[i];
            r.refs = r.refs.saturating_sub(1);
            if r.refs == 0 && r.owner == ORPHAN {
                self.reset(i, FREE, Cap::NONE);
            }
        }
    }

    /// An environment ended: its unmapped pages become free, mapped ones orphans.
    pub fn release_owner(&mut self, env: u32) -> usize {
        let mut freed = 0;
        loop {
            let Some(i) = self.list(env).next() else {
                break;
            };
            if self.recs[i].refs == 0 {
                self.reset(i, FREE, Cap::NONE);
                freed += 1;
            } else {
                self.set_owner(i, ORPHAN);
            }
        }
        freed
    }

    /// Takes an owned page by force (the abort protocol) once its mappings
    /// are gone.
    pub fn repossess(&mut self, ppn: u64, env: u32) -> Result<(), Error> {
        let i = self.index(ppn)?;
        if self.recs[i].owner != env || self.recs[i].refs != 0 {
            return Err(Error::Busy);
        }
        self.reset(i, FREE, Cap::NONE);
        Ok(())
    }

    /// Pages owned by `env`, for the abort protocol.
    pub fn owned_by(&self, env: u32) -> impl Iterator<Item = u64> + '_ {
        self.list(env).map(|i| i as u64)
    }

    pub fn free_count(&self) -> usize {
        self.recs.iter().filter(|r| r.owner == FREE).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exo_abi::cap::PERM_ALL;

    fn table(n: usize) -> [PageInfo; 16] {
        let _ = n;
        [PageInfo::default(); 16]
    }

    fn links() -> [Link; 16] {
        [Link::default(); 16]
    }

    #[test]
    fn pages_go_to_the_kernel_only_from_their_unmapped_owner() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(2, 16);
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        let b = Cap::new(b"b", PERM_ALL).unwrap();
        p.alloc(5, 1, &a).unwrap();
        assert_eq!(
            p.take_for_kernel(5, 2, &b),
            Err(Error::Denied),
            "not the guard"
        );
        assert_eq!(
            p.take_for_kernel(5, 2, &a),
            Err(Error::Denied),
            "not the owner"
        );
        p.map_ref(5, &a, true).unwrap();
        assert_eq!(
            p.take_for_kernel(5, 1, &a),
            Err(Error::Busy),
            "still mapped"
        );
        p.unref(5);
        let guard = p.take_for_kernel(5, 1, &a).unwrap();
        assert_eq!(p.get(5).unwrap().owner, KERNEL);
        assert_eq!(
            p.take_for_kernel(5, 1, &a),
            Err(Error::Denied),
            "now the kernel's"
        );
        p.return_from_kernel(5, 1, guard);
        assert_eq!((p.get(5).unwrap().owner, p.get(5).unwrap().guard), (1, a));
    }

    #[test]
    fn pinned_pages_outlive_their_owner_until_unpinned() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(2, 16);
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        p.alloc(7, 1, &a).unwrap();
        assert_eq!(p.pin(3), Err(Error::Denied), "a free page");
        p.pin(7).unwrap();
        assert_eq!(p.free(7, &a), Err(Error::Busy), "pinned");
        p.release_owner(1);
        assert_eq!(p.get(7).unwrap().owner, ORPHAN);
        p.unref(7);
        assert_eq!(p.get(7).unwrap().owner, FREE, "freed with the last pin");
    }

    #[test]
    fn named_allocation_and_double_allocation() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(2, 16);
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        assert_eq!(p.alloc(0, 1, &a), Err(Error::Invalid), "not RAM");
        assert_eq!(p.alloc(99, 1, &a), Err(Error::Invalid), "out of range");
        assert_eq!(p.alloc(5, 1, &a), Ok(()));
        assert_eq!(
            p.alloc(5, 2, &a),
            Err(Error::Taken),
            "named page already taken"
        );
        assert_eq!(
            p.alloc(6, 1, &Cap::NONE),
            Err(Error::Denied),
            "an empty slot guards nothing"
        );
    }

    #[test]
    fn free_map_and_grant_need_a_dominating_capability() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 16);
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        let a1 = a.derive(b"1", PERM_READ).unwrap();
        let b = Cap::new(b"b", PERM_ALL).unwrap();
        p.alloc(3, 1, &a.derive(b"1", PERM_ALL).unwrap()).unwrap();
        assert_eq!(
            p.free(3, &b),
            Err(Error::Denied),
            "another env's capability"
        );
        assert_eq!(p.map_ref(3, &b, false), Err(Error::Denied));
        assert_eq!(
            p.map_ref(3, &a1, true),
            Err(Error::Denied),
            "read-only capability, writable map"
        );
        assert_eq!(p.map_ref(3, &a1, false), Ok(()), "shared read-only");
        assert_eq!(p.free(3, &a), Err(Error::Busy), "still mapped");
        assert_eq!(p.grant(3, &a1, 2), Err(Error::Denied));
        p.unref(3);
        assert_eq!(p.grant(3, &a, 2), Ok(()));
        assert_eq!(p.get(3).unwrap().owner, 2);
        assert_eq!(p.free(3, &a), Ok(2));
        assert_eq!(
            p.map_ref(3, &a, false),
            Err(Error::Denied),
            "free pages cannot be mapped"
        );
    }

    #[test]
    fn a_mapped_kernel_page_is_not_freed() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 16);
        let k = p.alloc_kernel().unwrap();
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        p.alloc(k + 1, 1, &a).unwrap();
        assert_eq!(
            p.kernel_map_ref(k + 1),
            Err(Error::Denied),
            "not a kernel page"
        );
        p.kernel_map_ref(k).unwrap();
        p.free_kernel(k);
        assert_eq!(p.get(k).unwrap().owner, KERNEL, "still mapped");
        p.unref(k);
        p.free_kernel(k);
        assert_eq!(p.get(k).unwrap().owner, FREE);
    }

    #[test]
    fn kernel_pages_are_untouchable() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 16);
        let k = p.alloc_kernel().unwrap();
        assert_eq!(p.alloc(k, 1, &Cap::ROOT), Err(Error::Taken));
        assert_eq!(
            p.map_ref(k, &Cap::ROOT, false),
            Err(Error::Denied),
            "even the root capability"
        );
        assert_eq!(p.free(k, &Cap::ROOT), Err(Error::Denied));
    }

    #[test]
    fn an_ending_owner_gives_back_exactly_its_pages() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 16);
        let a = Cap::new(b"a", PERM_ALL).unwrap();
        // Envs 0x101 and 0x201 share a list (same slot, another generation).
        for (ppn, env) in [(1, 0x101), (2, 0x102), (3, 0x101), (4, 0x201), (5, 0x101)] {
            p.alloc(ppn, env, &a).unwrap();
        }
        p.grant(3, &a, 0x102).unwrap();
        p.grant(2, &a, 0x101).unwrap();
        assert_eq!(p.grant(2, &a, KERNEL), Err(Error::Invalid), "not an env");
        p.map_ref(5, &a, false).unwrap();
        let mut mine = [0; 3];
        assert_eq!(p.owned_by(0x101).count(), 3);
        p.owned_by(0x101)
            .zip(&mut mine)
            .for_each(|(ppn, m)| *m = ppn);
        mine.sort();
        assert_eq!(mine, [1, 2, 5]);
        assert_eq!(p.release_owner(0x101), 2, "1 and 2 freed");
        assert_eq!(p.get(5).unwrap().owner, ORPHAN, "5 still mapped");
        assert_eq!(p.owned_by(0x101).count(), 0);
        assert_eq!(p.get(3).unwrap().owner, 0x102);
        assert_eq!(p.get(4).unwrap().owner, 0x201);
        assert!(p.owned_by(0x201).eq([4]));
        p.unref(5);
        assert_eq!(p.get(5).unwrap().owner, FREE);
        assert_eq!(p.release_owner(0x102), 1);
        assert_eq!(p.release_owner(0x201), 1);
        assert_eq!(p.free_count(), 16);
    }

    #[test]
    fn public_pages_map_read_only_for_anyone_and_change_for_no_one() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 16);
        let k = p.alloc_kernel().unwrap();
        p.make_public(k as usize);
        let free = p.alloc_kernel().unwrap() + 1;
        p.make_public(free as usize);
        assert_eq!(p.get(free).unwrap().owner, FREE, "only kernel pages");
        let anyone = Cap::new(b"x", PERM_ALL).unwrap();
        assert_eq!(p.map_ref(k, &anyone, false), Ok(()), "read-only");
        assert_eq!(p.check_protect(k, &anyone, false), Ok(()));
        assert_eq!(p.map_ref(k, &Cap::ROOT, true), Err(Error::Denied));
        assert_eq!(p.check_protect(k, &Cap::ROOT, true), Err(Error::Denied));
        assert_eq!(p.alloc(k, 1, &anyone), Err(Error::Taken));
        assert_eq!(p.free(k, &Cap::ROOT), Err(Error::Denied));
        assert_eq!(p.grant(k, &Cap::ROOT, 1), Err(Error::Denied));
        assert_eq!(p.share_read(k, &Cap::ROOT, anyone), Err(Error::Denied));
        assert_eq!(p.take_for_kernel(k, PUBLIC, &Cap::ROOT), Err(Error::Denied));
        p.unref(k);
        assert_eq!(p.release_owner(PUBLIC), 0, "public pages outlive everyone");
        assert_eq!(p.get(k).unwrap().owner, PUBLIC);
    }

    #[test]
    fn a_reader_maps_read_only_and_nothing_more() {
        let mut recs = [PageInfo::default(); 8];
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 8);
        let owner = Cap::new(b"ab", PERM_ALL).unwrap();
        let public = Cap::new(b"T", PERM_READ).unwrap();
        let stranger = Cap::new(b"x", PERM_ALL).unwrap();
        p.alloc(3, 1, &owner).unwrap();
        assert_eq!(
            p.map_ref(3, &public, false),
            Err(Error::Denied),
            "not shared yet"
        );
        assert_eq!(
            p.share_read(3, &public, public),
            Err(Error::Denied),
            "only the owner shares"
        );
        p.share_read(3, &owner, public).unwrap();
        p.map_ref(3, &public, false).unwrap();
        assert_eq!(p.map_ref(3, &public, true), Err(Error::Denied), "read-only");
        assert_eq!(p.map_ref(3, &stranger, false), Err(Error::Denied));
        assert_eq!(p.free(3, &public), Err(Error::Denied));
        p.unref(3);
        p.free(3, &owner).unwrap();
        p.alloc(3, 2, &stranger).unwrap();
        assert_eq!(
            p.map_ref(3, &public, false),
            Err(Error::Denied),
            "a new owner's page is private"
        );
    }

    #[test]
    fn ended_owner_leaves_orphans_until_unmapped() {
        let mut recs = table(16);
        let mut links = links();
        let mut p = Pages::new(&mut recs, &mut links);
        p.add_ram(0, 16);
        p.alloc(1, 7, &Cap::ROOT).unwrap();
        p.alloc(2, 7, &Cap::ROOT).unwrap();
        p.map_ref(2, &Cap::ROOT, false).unwrap();
        assert_eq!(p.release_owner(7), 1);
        assert_eq!(p.get(2).unwrap().owner, ORPHAN);
        p.unref(2);
        assert_eq!(p.get(2).unwrap().owner, FREE);
        assert_eq!(p.free_count(), 16);
    }
}
