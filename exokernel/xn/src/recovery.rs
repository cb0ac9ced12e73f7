//! Reconstruction after a crash (§4.5, §4.6): the on-disk free map is only written at
//! clean shutdown, so XN rebuilds it by walking every persistent root with the owns-udfs
//! (reachable = allocated), checks each reference count against the pointers actually
//! found, and logs violations. XN does not guess how to repair libFS metadata: a tree with
//! bad reference counts gets its root marked tainted, to be fixed before use.

use crate::catalogue::{self, Catalogue, Kind};
use crate::disk::Disk;
use crate::error::Error;
use crate::freemap::FreeMap;
use crate::layout::Superblock;
use crate::owns;
use crate::template::Template;
use crate::{Db, TypeId, BLOCK_SIZE};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// One invariant violation found on disk (the error log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A type's template does not parse or verify.
    BadTemplate { name: String },
    /// Two catalogue extents overlap, or an extent covers XN's own blocks.
    ExtentOverlap { name: String, block: Db },
    /// owns-udf faulted on a block.
    OwnsFault { block: Db },
    /// A pointer outside the data area.
    BadPointer { from: Db, to: Db },
    /// A pointer with a type that does not exist.
    UnknownType { from: Db, to: Db, ty: u16 },
    /// A block claimed twice (by a type without reference counts, or with two types).
    DoubleOwner { block: Db, from: Db },
    /// The stored reference count differs from the pointers found.
    RefcntMismatch {
        block: Db,
        stored: u64,
        counted: u64,
    },
    /// refcnt-udf faulted.
    RefcntFault { block: Db },
}

/// What reconstruction found and did.
#[derive(Clone, Debug)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// The free map implied by the roots.
    pub freemap: FreeMap,
    /// Blocks reachable from persistent roots (metadata and data).
    pub reachable: u64,
    /// Allocated in the old map but unreachable: reclaimed.
    pub reclaimed: u64,
    /// Reachable but free in the old map (allocated after the last clean shutdown).
    pub recovered: u64,
    /// Roots marked tainted.
    pub tainted_roots: Vec<String>,
    /// Whether the disk had been shut down cleanly.
    pub was_clean: bool,
}

struct Walk<'a> {
    sb: &'a Superblock,
    types: &'a BTreeMap<u16, Template>,
    map: FreeMap,
    seen: BTreeMap<Db, TypeId>,
    /// block → (stored count, pointers found).
    counts: BTreeMap<Db, (u64, u64)>,
    /// block → the root slot its tree hangs from.
    root_of: BTreeMap<Db, usize>,
    violations: Vec<Violation>,
    reachable: u64,
}

impl Walk<'_> {
    fn tree<D: Disk>(
        &mut self,
        disk: &mut D,
        slot: usize,
        db: Db,
        ty: TypeId,
    ) -> Result<(), Error> {
        let mut stack = alloc::vec![(db, ty)];
        let mut buf = [0u8; BLOCK_SIZE];
        while let Some((b, ty)) = stack.pop() {
            let Some(t) = self.types.get(&ty.0) else {
                continue;
            };
            disk.read(b, &mut buf)?;
            match owns::refcnt(t, &buf, b) {
                Ok(Some((n, _))) => self.counts.entry(b).or_insert((0, 0)).0 = n,
                Ok(None) => {}
                Err(_) => self.violations.push(Violation::RefcntFault { block: b }),
            }
            let owned = match owns::owns_list(t, &buf, b) {
                Ok(o) => o,
                Err(_) => {
                    self.violations.push(Violation::OwnsFault { block: b });
                    self.root_of.insert(b, slot);
                    continue;
                }
            };
            for (k, kty) in owned {
                if k < self.sb.data_start || k >= self.sb.nblocks {
                    self.violations
                        .push(Violation::BadPointer { from: b, to: k });
                    continue;
                }
                let ktpl = self.types.get(&kty.0);
                if kty != TypeId::DB && ktpl.is_none() {
                    self.violations.push(Violation::UnknownType {
                        from: b,
                        to: k,
                        ty: kty.0,
                    });
                    continue;
                }
                let shared = ktpl.is_some_and(|t| t.has_refcnt());
                match self.seen.get(&k) {
                    Some(&t) if t == kty && shared => self.counts.entry(k).or_insert((0, 0)).1 += 1,
                    Some(_) => self
                        .violations
                        .push(Violation::DoubleOwner { block: k, from: b }),
                    None if !self.map.is_free(k) => self
                        .violations
                        .push(Violation::DoubleOwner { block: k, from: b }),
                    None => {
                        self.map.set(k, true);
                        self.seen.insert(k, kty);
                        self.root_of.insert(k, slot);
                        self.reachable += 1;
                        if shared {
                            self.counts.entry(k).or_insert((0, 0)).1 += 1;
                        }
                        if kty != TypeId::DB {
                            stack.push((k, kty));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reconstruct disk `disk`: rebuild the free map from the roots, check reference counts,
/// log violations. With `repair`, write the new free map, mark bad trees' roots tainted
/// and mark the disk clean so it can be opened; without, only report (fsck).
pub fn reconstruct<D: Disk>(disk: &mut D, repair: bool) -> Result<Report, Error> {
    if disk.nblocks() == 0 {
        return Err(Error::BadImage("empty disk"));
    }
    let mut b = [0u8; BLOCK_SIZE];
    disk.read(0, &mut b)?;
    let mut sb = Superblock::decode(&b, disk.nblocks())?;
    let mut cat = Catalogue::load(disk, &sb)?;
    let old = FreeMap::load(disk, &sb).unwrap_or_else(|_| FreeMap::formatted(&sb));
    let mut violations = Vec::new();
    let mut types = BTreeMap::new();
    for (slot, e) in cat.iter().filter(|(_, e)| e.kind == Kind::Type) {
        match catalogue::read_template(disk, e) {
            Ok(t) => {
                types.insert(TypeId::from_slot(slot).0, t);
            }
            Err(_) => violations.push(Violation::BadTemplate {
                name: e.name.clone(),
            }),
        }
    }
    let mut walk = Walk {
        sb: &sb,
        types: &types,
        map: FreeMap::formatted(&sb),
        seen: BTreeMap::new(),
        counts: BTreeMap::new(),
        root_of: BTreeMap::new(),
        violations,
        reachable: 0,
    };
    // Catalogue extents first: they are allocated whatever the trees say.
    let entries: Vec<(usize, catalogue::Entry)> = cat
        .iter()
        .filter(|(_, e)| !e.temporary)
        .map(|(s, e)| (s, e.clone()))
        .collect();
    for (slot, e) in &entries {
        for blk in e.db..e.db + e.nblocks {
            if !walk.map.is_free(blk) {
                walk.violations.push(Violation::ExtentOverlap {
                    name: e.name.clone(),
                    block: blk,
                });
            }
            walk.map.set(blk, true);
            walk.reachable += 1;
            if let Kind::Root(ty) = e.kind {
                walk.seen.insert(blk, ty);
                walk.root_of.insert(blk, *slot);
            }
        }
    }
    for (slot, e) in &entries {
        if let Kind::Root(ty) = e.kind {
            for blk in e.db..e.db + e.nblocks {
                walk.tree(disk, *slot, blk, ty)?;
            }
        }
    }
    let mut bad_roots: Vec<usize> = Vec::new();
    for (&blk, &(stored, counted)) in &walk.counts {
        if stored != counted {
            walk.violations.push(Violation::RefcntMismatch {
                block: blk,
                stored,
                counted,
            });
            if let Some(&s) = walk.root_of.get(&blk) {
                bad_roots.push(s);
            }
        }
    }
    for v in &walk.violations {
        if let Violation::OwnsFault { block }
        | Violation::DoubleOwner { from: block, .. }
        | Violation::BadPointer { from: block, .. } = v
        {
            if let Some(&s) = walk.root_of.get(block) {
                bad_roots.push(s);
            }
        }
    }
    bad_roots.sort_unstable();
    bad_roots.dedup();
    let map = walk.map;
    let reclaimed = old.allocated().filter(|&x| map.is_free(x)).count() as u64;
    let recovered = map.allocated().filter(|&x| old.is_free(x)).count() as u64;
    let tainted_roots = bad_roots
        .iter()
        .filter_map(|&s| cat.get(s).map(|e| e.name.clone()))
        .collect();
    let report = Report {
        violations: walk.violations,
        reachable: walk.reachable,
        freemap: map,
        reclaimed,
        recovered,
        tainted_roots,
        was_clean: sb.clean,
    };
    if repair {
        for &s in &bad_roots {
            if let Some(e) = cat.get_mut(s) {
                e.tainted = true;
            }
        }
        // Temporary roots never reach the disk; drop any an older writer left behind.
        let temp: Vec<usize> = cat
            .iter()
            .filter(|(_, e)| e.temporary)
            .map(|(s, _)| s)
            .collect();
        temp.into_iter().for_each(|s| {
            cat.remove(s);
        });
        report.freemap.store(disk, &sb)?;
        cat.store(disk, &sb)?;
        disk.flush()?;
        sb.clean = true;
        disk.write(0, &sb.encode())?;
        disk.flush()?;
    }
    Ok(report)
}
