//! The typed XN operations and their encoding in an [`XnArgs`] block.

use super::{
    XnArgs, XnCatEntry, XnMod, XnUpdate, BLOCK_SIZE, INIT_BYTES, KIND_ROOT, MAX_ENUM,
    MAX_EXTENT_BLOCKS, MAX_MODS, MAX_NAME, MAX_PAGES, MAX_READ_BLOCKS, NONE, TEMPORARY,
};
use crate::syscall::arg::{UserArray, UserBytes, UserRef};
use crate::syscall::Error;

/// A catalogue name.
pub type XnName = UserBytes<0, { MAX_NAME as u64 }>;
/// Bytes within one block.
pub type BlockBytes = UserBytes<0, { BLOCK_SIZE as u64 }>;
/// A modification vector.
pub type XnMods = UserArray<XnMod, 0, { MAX_MODS as u64 }>;

/// A root's template type and whether the tree is temporary (never on disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XnRoot {
    pub ty: u16,
    pub temporary: bool,
}

/// Every XN operation with its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XnCall {
    /// Format the disk for XN (root capability only); `force`: even if it
    /// already holds XN.
    Format {
        force: bool,
    },
    /// The caller's capability value (what to write as owner).
    CapValue,
    ReserveType {
        name: XnName,
    },
    /// A catalogue entry: a root of type `root.ty` (None: a type's
    /// template blocks) at `db` (None: XN's choice), with `init` bytes.
    InstallMount {
        name: XnName,
        db: Option<u64>,
        nblocks: u64,
        root: Option<XnRoot>,
        init: Option<BlockBytes>,
    },
    TypeImport {
        name: XnName,
    },
    /// The entry called `name`, written to `out`.
    Lookup {
        name: XnName,
        out: UserRef<XnCatEntry>,
    },
    Mount {
        name: XnName,
    },
    /// Read `n` blocks from `db` into the cache; with `pages`, into the
    /// caller's own unmapped pages (they pass to the kernel while cached;
    /// unused ones come back).
    ReadAndInsert {
        db: u64,
        n: u64,
        pages: Option<UserArray<u64, 1, { MAX_PAGES as u64 }>>,
    },
    InsertAttr {
        parent: u64,
        upd: XnUpdate,
    },
    Alloc {
        parent: u64,
        upd: XnUpdate,
        mods: XnMods,
        init: Option<BlockBytes>,
    },
    /// `child_mods`: the modifications that empty the freed child.
    Free {
        parent: u64,
        upd: XnUpdate,
        mods: XnMods,
        child_mods: XnMods,
    },
    AddEdge {
        src: u64,
        dst: u64,
        own_id: u32,
        src_mods: XnMods,
        dst_mods: XnMods,
    },
    /// Bytes of block `db` from `offset` into `out`.
    ReadB {
        db: u64,
        offset: u64,
        out: BlockBytes,
    },
    /// `bytes` into block `db` at `offset`.
    WriteB {
        db: u64,
        offset: u64,
        bytes: BlockBytes,
    },
    Writeback {
        db: u64,
        n: u64,
    },
    /// Returns a free extent's first block, or Error::Xn(NoSpace).
    FindFree {
        hint: u64,
        n: u64,
    },
    /// The extents block `db` owns in partitions `first..end`, into `out`;
    /// returns how many.
    UdfEnum {
        db: u64,
        first: u32,
        end: u32,
        out: UserArray<XnUpdate, 0, { MAX_ENUM as u64 }>,
    },
    /// Block `db`'s registry entry (exo_xn::registry::XrAttr) into `out`.
    ReadAttr {
        db: u64,
        out: BlockBytes,
    },
    /// Returns the count, or [`NO_REFCNT`] when the type counts none.
    GetRefcnt {
        db: u64,
    },
    /// Write everything back and mark the disk clean (root capability only).
    Shutdown,
    /// Returns the number of blocks of the XN disk (NoEnv: no XN disk).
    Info,
    /// Dirty blocks that may be written back now, into `out`; returns how many.
    ListWriteable {
        out: UserArray<u64, 0, { MAX_ENUM as u64 }>,
    },
    /// Remove a root that owns nothing, or a type no cached block uses
    /// (the entry's owner only).
    UninstallMount {
        name: XnName,
    },
    /// Bind a type's cached blocks as template blocks.
    TypeMount {
        name: XnName,
    },
    /// Take an extent off the free map without a parent (root capability
    /// only: for reconstruction programs).
    /// Cached block `db`'s page mapped read-only at `va` in the caller,
    /// if its acl-uf lets the caller read it (checked now, not at each
    /// read); the mapping goes when the block leaves the cache.
    Map {
        db: u64,
        va: u64,
    },
    /// Hold cached block `db` for a multi-step update (who may write it
    /// only): others cannot change, write back or evict it until `Unlock`
    /// or the holder ends.
    Lock {
        db: u64,
    },
    Unlock {
        db: u64,
    },
    /// Evict clean cached blocks `[db, db + n)` that the caller may write.
    DeleteAttr {
        db: u64,
        n: u64,
    },
    DbAlloc {
        db: u64,
        n: u64,
    },
}

/// GET_REFCNT's answer for a type that counts no references (outside the
/// negated error codes a result must avoid).
pub const NO_REFCNT: u64 = 1 << 62;

/// `XnArgs::op` values, one per [`XnCall`] variant.
pub mod op {
    pub const FORMAT: u32 = 0;
    pub const CAP_VALUE: u32 = 1;
    pub const RESERVE_TYPE: u32 = 2;
    pub const INSTALL_MOUNT: u32 = 3;
    pub const TYPE_IMPORT: u32 = 4;
    pub const LOOKUP: u32 = 5;
    pub const MOUNT: u32 = 6;
    pub const READ_AND_INSERT: u32 = 7;
    pub const INSERT_ATTR: u32 = 8;
    pub const ALLOC: u32 = 9;
    pub const FREE: u32 = 10;
    pub const ADD_EDGE: u32 = 11;
    pub const READB: u32 = 12;
    pub const WRITEB: u32 = 13;
    pub const WRITEBACK: u32 = 14;
    pub const FIND_FREE: u32 = 15;
    pub const UDF_ENUM: u32 = 16;
    pub const READ_ATTR: u32 = 17;
    pub const GET_REFCNT: u32 = 18;
    pub const SHUTDOWN: u32 = 19;
    pub const INFO: u32 = 20;
    pub const LIST_WRITEABLE: u32 = 21;
    pub const UNINSTALL_MOUNT: u32 = 22;
    pub const TYPE_MOUNT: u32 = 23;
    pub const DB_ALLOC: u32 = 24;
    pub const MAP: u32 = 25;
    pub const LOCK: u32 = 26;
    pub const UNLOCK: u32 = 27;
    pub const DELETE_ATTR: u32 = 28;
}

/// Readable names of the operations, by `op` number.
const NAMES: [&str; 29] = [
    "format",
    "cap_value",
    "reserve_type",
    "install_mount",
    "type_import",
    "lookup",
    "mount",
    "read_and_insert",
    "insert_attr",
    "alloc",
    "free",
    "add_edge",
    "readb",
    "writeb",
    "writeback",
    "find_free",
    "udf_enum",
    "read_attr",
    "get_refcnt",
    "shutdown",
    "info",
    "list_writeable",
    "uninstall_mount",
    "type_mount",
    "db_alloc",
    "map",
    "lock",
    "unlock",
    "delete_attr",
];

/// A readable name of an operation number.
pub fn op_name(o: u64) -> &'static str {
    NAMES.get(o as usize).copied().unwrap_or("unknown")
}

fn name(ptr: u64, len: u64) -> Result<XnName, Error> {
    XnName::check(ptr, len)
}

fn mods(ptr: u64, n: u64) -> Result<XnMods, Error> {
    XnMods::check(ptr, n)
}

fn upd_db(u: &XnUpdate) -> XnUpdate {
    XnUpdate { _pad: 0, ..*u }
}

/// Elements of `T` that fit in `len` bytes, at most `max`.
fn fitting<T>(len: u64, max: usize) -> u64 {
    (len / core::mem::size_of::<T>() as u64).min(max as u64)
}

impl XnCall {
    /// Its `XnArgs::op` number.
    pub const fn op(&self) -> u32 {
        match self {
            XnCall::Format { .. } => op::FORMAT,
            XnCall::CapValue => op::CAP_VALUE,
            XnCall::ReserveType { .. } => op::RESERVE_TYPE,
            XnCall::InstallMount { .. } => op::INSTALL_MOUNT,
            XnCall::TypeImport { .. } => op::TYPE_IMPORT,
            XnCall::Lookup { .. } => op::LOOKUP,
            XnCall::Mount { .. } => op::MOUNT,
            XnCall::ReadAndInsert { .. } => op::READ_AND_INSERT,
            XnCall::InsertAttr { .. } => op::INSERT_ATTR,
            XnCall::Alloc { .. } => op::ALLOC,
            XnCall::Free { .. } => op::FREE,
            XnCall::AddEdge { .. } => op::ADD_EDGE,
            XnCall::ReadB { .. } => op::READB,
            XnCall::WriteB { .. } => op::WRITEB,
            XnCall::Writeback { .. } => op::WRITEBACK,
            XnCall::FindFree { .. } => op::FIND_FREE,
            XnCall::UdfEnum { .. } => op::UDF_ENUM,
            XnCall::ReadAttr { .. } => op::READ_ATTR,
            XnCall::GetRefcnt { .. } => op::GET_REFCNT,
            XnCall::Shutdown => op::SHUTDOWN,
            XnCall::Info => op::INFO,
            XnCall::ListWriteable { .. } => op::LIST_WRITEABLE,
            XnCall::UninstallMount { .. } => op::UNINSTALL_MOUNT,
            XnCall::TypeMount { .. } => op::TYPE_MOUNT,
            XnCall::DbAlloc { .. } => op::DB_ALLOC,
            XnCall::Map { .. } => op::MAP,
            XnCall::Lock { .. } => op::LOCK,
            XnCall::Unlock { .. } => op::UNLOCK,
            XnCall::DeleteAttr { .. } => op::DELETE_ATTR,
        }
    }

    pub fn name(&self) -> &'static str {
        op_name(self.op() as u64)
    }

    /// The argument block the kernel reads.
    pub fn encode(&self) -> XnArgs {
        let mut a = XnArgs {
            op: self.op(),
            ..XnArgs::default()
        };
        let set_name = |a: &mut XnArgs, n: &XnName| (a.name_ptr, a.name_len) = (n.ptr, n.len);
        let set_buf = |a: &mut XnArgs, ptr: u64, len: u64| (a.buf_ptr, a.buf_len) = (ptr, len);
        let set_init = |a: &mut XnArgs, init: &Option<BlockBytes>| {
            if let Some(b) = init {
                a.flags |= INIT_BYTES;
                (a.buf_ptr, a.buf_len) = (b.ptr, b.len);
            }
        };
        match *self {
            XnCall::Format { force } => a.a = force as u64,
            XnCall::CapValue | XnCall::Shutdown | XnCall::Info => {}
            XnCall::ReserveType { name }
            | XnCall::TypeImport { name }
            | XnCall::Mount { name }
            | XnCall::UninstallMount { name }
            | XnCall::TypeMount { name } => set_name(&mut a, &name),
            XnCall::InstallMount {
                name,
                db,
                nblocks,
                root,
                init,
            } => {
                set_name(&mut a, &name);
                (a.a, a.b) = (db.unwrap_or(NONE), nblocks);
                if let Some(r) = root {
                    a.flags |= KIND_ROOT | if r.temporary { TEMPORARY } else { 0 };
                    a.upd.ty = r.ty;
                }
                set_init(&mut a, &init);
            }
            XnCall::Lookup { name, out } => {
                set_name(&mut a, &name);
                set_buf(&mut a, out.ptr, core::mem::size_of::<XnCatEntry>() as u64);
            }
            XnCall::ReadAndInsert { db, n, pages } => {
                (a.a, a.b) = (db, n);
                if let Some(p) = pages {
                    (a.b, a.buf_ptr, a.buf_len) = (p.n, p.ptr, p.n * 8);
                }
            }
            XnCall::InsertAttr { parent, upd } => (a.a, a.upd) = (parent, upd),
            XnCall::Alloc {
                parent,
                upd,
                mods,
                init,
            } => {
                (a.a, a.upd, a.mv_ptr, a.mv_len) = (parent, upd, mods.ptr, mods.n);
                set_init(&mut a, &init);
            }
            XnCall::Free {
                parent,
                upd,
                mods,
                child_mods,
            } => {
                (a.a, a.upd, a.mv_ptr, a.mv_len) = (parent, upd, mods.ptr, mods.n);
                (a.mv2_ptr, a.mv2_len) = (child_mods.ptr, child_mods.n);
            }
            XnCall::AddEdge {
                src,
                dst,
                own_id,
                src_mods,
                dst_mods,
            } => {
                (a.a, a.b, a.c) = (src, dst, own_id as u64);
                (a.mv_ptr, a.mv_len) = (src_mods.ptr, src_mods.n);
                (a.mv2_ptr, a.mv2_len) = (dst_mods.ptr, dst_mods.n);
            }
            XnCall::ReadB { db, offset, out: b }
            | XnCall::WriteB {
                db,
                offset,
                bytes: b,
            } => {
                (a.a, a.b) = (db, offset);
                set_buf(&mut a, b.ptr, b.len);
            }
            XnCall::Writeback { db, n } | XnCall::DbAlloc { db, n } => (a.a, a.b) = (db, n),
            XnCall::Map { db, va } => (a.a, a.b) = (db, va),
            XnCall::Lock { db } | XnCall::Unlock { db } => a.a = db,
            XnCall::DeleteAttr { db, n } => (a.a, a.b) = (db, n),
            XnCall::FindFree { hint, n } => (a.a, a.b) = (hint, n),
            XnCall::UdfEnum {
                db,
                first,
                end,
                out,
            } => {
                (a.a, a.b, a.c) = (db, first as u64, end as u64);
                set_buf(
                    &mut a,
                    out.ptr,
                    out.n * core::mem::size_of::<XnUpdate>() as u64,
                );
            }
            XnCall::ReadAttr { db, out } => {
                a.a = db;
                set_buf(&mut a, out.ptr, out.len);
            }
            XnCall::GetRefcnt { db } => a.a = db,
            XnCall::ListWriteable { out } => set_buf(&mut a, out.ptr, out.n * 8),
        }
        a
    }

    /// The operation an argument block asks for, every field checked as
    /// its type requires (pointers stay addresses the kernel copies through).
    pub fn decode(a: &XnArgs) -> Result<XnCall, Error> {
        let init = || -> Result<Option<BlockBytes>, Error> {
            if a.flags & INIT_BYTES != 0 {
                BlockBytes::check(a.buf_ptr, a.buf_len).map(Some)
            } else {
                Ok(None)
            }
        };
        let nm = || name(a.name_ptr, a.name_len);
        let u32_of = |v: u64| u32::try_from(v).map_err(|_| Error::Invalid);
        Ok(match a.op {
            op::FORMAT => XnCall::Format { force: a.a == 1 },
            op::CAP_VALUE => XnCall::CapValue,
            op::RESERVE_TYPE => XnCall::ReserveType { name: nm()? },
            op::INSTALL_MOUNT if a.b > MAX_EXTENT_BLOCKS => return Err(Error::Invalid),
            op::INSTALL_MOUNT => XnCall::InstallMount {
                name: nm()?,
                db: (a.a != NONE).then_some(a.a),
                nblocks: a.b,
                root: (a.flags & KIND_ROOT != 0).then_some(XnRoot {
                    ty: a.upd.ty,
                    temporary: a.flags & TEMPORARY != 0,
                }),
                init: init()?,
            },
            op::TYPE_IMPORT => XnCall::TypeImport { name: nm()? },
            op::LOOKUP => {
                if (a.buf_len as usize) < core::mem::size_of::<XnCatEntry>() {
                    return Err(Error::Invalid);
                }
                XnCall::Lookup {
                    name: nm()?,
                    out: UserRef::check(a.buf_ptr)?,
                }
            }
            op::MOUNT => XnCall::Mount { name: nm()? },
            op::READ_AND_INSERT => XnCall::ReadAndInsert {
                db: a.a,
                n: a.b,
                pages: if a.buf_len > 0 {
                    if a.buf_len < a.b.saturating_mul(8) {
                        return Err(Error::Invalid);
                    }
                    Some(UserArray::check(a.buf_ptr, a.b)?)
                } else if a.b > MAX_READ_BLOCKS {
                    return Err(Error::Invalid);
                } else {
                    None
                },
            },
            op::INSERT_ATTR => XnCall::InsertAttr {
                parent: a.a,
                upd: upd_db(&a.upd),
            },
            op::ALLOC if a.upd.nblocks > MAX_EXTENT_BLOCKS => return Err(Error::Invalid),
            op::ALLOC => XnCall::Alloc {
                parent: a.a,
                upd: upd_db(&a.upd),
                mods: mods(a.mv_ptr, a.mv_len)?,
                init: init()?,
            },
            op::FREE => XnCall::Free {
                parent: a.a,
                upd: upd_db(&a.upd),
                mods: mods(a.mv_ptr, a.mv_len)?,
                child_mods: mods(a.mv2_ptr, a.mv2_len)?,
            },
            op::ADD_EDGE => XnCall::AddEdge {
                src: a.a,
                dst: a.b,
                own_id: u32_of(a.c)?,
                src_mods: mods(a.mv_ptr, a.mv_len)?,
                dst_mods: mods(a.mv2_ptr, a.mv2_len)?,
            },
            op::READB => XnCall::ReadB {
                db: a.a,
                offset: a.b,
                out: BlockBytes::check(a.buf_ptr, a.buf_len)?,
            },
            op::WRITEB => XnCall::WriteB {
                db: a.a,
                offset: a.b,
                bytes: BlockBytes::check(a.buf_ptr, a.buf_len)?,
            },
            op::WRITEBACK => XnCall::Writeback { db: a.a, n: a.b },
            op::FIND_FREE => XnCall::FindFree { hint: a.a, n: a.b },
            op::UDF_ENUM => XnCall::UdfEnum {
                db: a.a,
                first: u32_of(a.b)?,
                end: u32_of(a.c)?,
                out: UserArray::check(a.buf_ptr, fitting::<XnUpdate>(a.buf_len, MAX_ENUM))?,
            },
            op::READ_ATTR => XnCall::ReadAttr {
                db: a.a,
                out: BlockBytes::check(a.buf_ptr, a.buf_len)?,
            },
            op::GET_REFCNT => XnCall::GetRefcnt { db: a.a },
            op::SHUTDOWN => XnCall::Shutdown,
            op::INFO => XnCall::Info,
            op::LIST_WRITEABLE => XnCall::ListWriteable {
                out: UserArray::check(a.buf_ptr, fitting::<u64>(a.buf_len, MAX_ENUM))?,
            },
            op::UNINSTALL_MOUNT => XnCall::UninstallMount { name: nm()? },
            op::TYPE_MOUNT => XnCall::TypeMount { name: nm()? },
            op::DB_ALLOC => XnCall::DbAlloc { db: a.a, n: a.b },
            op::LOCK => XnCall::Lock { db: a.a },
            op::UNLOCK => XnCall::Unlock { db: a.a },
            op::DELETE_ATTR => XnCall::DeleteAttr { db: a.a, n: a.b },
            op::MAP => XnCall::Map {
                db: a.a,
                va: Some(a.b)
                    .filter(|va| {
                        va.is_multiple_of(BLOCK_SIZE as u64) && *va < crate::layout::USER_TOP
                    })
                    .ok_or(Error::Invalid)?,
            },
            _ => return Err(Error::NoSys),
        })
    }
}
