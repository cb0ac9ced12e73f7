//! Running a template's UDFs on a block: owns (per partition, with read sets), refcnt,
//! acl and size. XN's "trusted set implementation" (§4.1) lives here: owns output is
//! expanded to a set of typed blocks, and a block named twice is a fault, so a UDF
//! cannot cheat by emitting overlapping extents.

use crate::template::Template;
use crate::udf::{self, AclOp, Fault, Input, Kind, ReadSet};
use crate::{Db, TypeId};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// What a metadata block controls: block → the type it holds.
pub type OwnsSet = BTreeMap<Db, TypeId>;

/// Most blocks one metadata block may control (bounds the set XN builds).
pub const MAX_OWNED: usize = 1 << 16;

/// One owns partition's result.
#[derive(Clone, Debug)]
pub struct PartOut {
    pub owned: OwnsSet,
    pub reads: ReadSet,
}

/// owns-udf on partition `part` of block `db` holding `meta`.
pub fn run_part(t: &Template, meta: &[u8], db: Db, part: u32) -> Result<PartOut, Fault> {
    let input = Input {
        segs: [meta, &[]],
        args: [part as u64, db, 0, 0, 0],
        clock: None,
    };
    let out = udf::run(&t.owns, Kind::Owns, &input)?;
    let mut owned = OwnsSet::new();
    for e in &out.emits {
        for b in e.db..e.db + e.n {
            if owned.insert(b, TypeId(e.ty)).is_some() || owned.len() > MAX_OWNED {
                return Err(Fault::BadEmit);
            }
        }
    }
    Ok(PartOut {
        owned,
        reads: out.reads,
    })
}

/// owns-udf on every partition.
pub fn run_all(t: &Template, meta: &[u8], db: Db) -> Result<Vec<PartOut>, Fault> {
    (0..t.nparts).map(|p| run_part(t, meta, db, p)).collect()
}

/// The union of partition outputs. A block may appear in two partitions only with the
/// same type (two edges to one reference-counted block, e.g. two hard links in one
/// directory); XN's checks ensure a block without a count is never pointed to twice.
pub fn union(parts: &[PartOut]) -> Result<OwnsSet, Fault> {
    let mut all = OwnsSet::new();
    for p in parts {
        for (&b, &ty) in &p.owned {
            if all.insert(b, ty).is_some_and(|t| t != ty) || all.len() > MAX_OWNED {
                return Err(Fault::BadEmit);
            }
        }
    }
    Ok(all)
}

/// Every pointer of a block, one per partition that holds it (a multiset: reconstruction
/// counts edges, not targets).
pub fn owns_list(t: &Template, meta: &[u8], db: Db) -> Result<Vec<(Db, TypeId)>, Fault> {
    let parts = run_all(t, meta, db)?;
    union(&parts)?;
    Ok(parts
        .into_iter()
        .flat_map(|p| p.owned.into_iter())
        .collect())
}

/// Everything block `db` controls.
pub fn owns_set(t: &Template, meta: &[u8], db: Db) -> Result<OwnsSet, Fault> {
    union(&run_all(t, meta, db)?)
}

/// Bytes any owns partition reads, plus what refcnt-udf reads: the bytes only verified
/// operations may change.
pub fn protected_bytes(t: &Template, meta: &[u8], db: Db) -> Result<ReadSet, Fault> {
    let mut rs = ReadSet::default();
    for p in run_all(t, meta, db)? {
        rs.union(&p.reads);
    }
    if let Some((_, r)) = refcnt(t, meta, db)? {
        rs.union(&r);
    }
    Ok(rs)
}

/// refcnt-udf: `None` if the type keeps no count (exactly one parent).
pub fn refcnt(t: &Template, meta: &[u8], db: Db) -> Result<Option<(u64, ReadSet)>, Fault> {
    if !t.has_refcnt() {
        return Ok(None);
    }
    let input = Input {
        segs: [meta, &[]],
        args: [0, db, 0, 0, 0],
        clock: None,
    };
    let out = udf::run(&t.refcnt, Kind::Refcnt, &input)?;
    Ok(Some((out.ret, out.reads)))
}

/// Who asks an acl-uf, and about what.
pub struct AclQuery<'a> {
    pub op: AclOp,
    pub cap: u64,
    pub env: u64,
    pub db: Db,
    pub target: Db,
    /// The proposed image (the current one for reads).
    pub new: &'a [u8],
}

/// acl-uf: does the template allow the operation? An empty acl-uf allows everything.
pub fn acl(
    t: &Template,
    meta: &[u8],
    q: &AclQuery,
    clock: Option<&dyn Fn() -> u64>,
) -> Result<bool, Fault> {
    if t.acl.is_empty() {
        return Ok(true);
    }
    let input = Input {
        segs: [meta, q.new],
        args: [q.op as u64, q.cap, q.db, q.target, q.env],
        clock,
    };
    Ok(udf::run(&t.acl, Kind::Acl, &input)?.ret != 0)
}

/// size-uf: the structure's size in bytes (a block, if the template has none).
pub fn size(
    t: &Template,
    meta: &[u8],
    db: Db,
    clock: Option<&dyn Fn() -> u64>,
) -> Result<u64, Fault> {
    if t.size.is_empty() {
        return Ok(crate::BLOCK_SIZE as u64);
    }
    let input = Input {
        segs: [meta, &[]],
        args: [0, db, 0, 0, 0],
        clock,
    };
    Ok(udf::run(&t.size, Kind::Size, &input)?.ret)
}
