//! The XN system call: `xn(args_ptr, slot) -> value`. One call carries every
//! XN operation (thesis ch. 8) in an [`XnArgs`] block; `slot` names the
//! capability the caller presents (its value is what acl-ufs and the
//! catalogue compare with owners). An XN refusal returns
//! [`crate::syscall::Error::Xn`] with XN's own error code in `rdx`
//! (`exo_xn::Error::code`).

/// Operations (`XnArgs::op`).
pub mod op {
    /// Format the disk for XN (root capability only). a = 1: even if it
    /// already holds XN.
    pub const FORMAT: u32 = 0;
    /// The caller's capability value for `slot` (what to write as owner).
    pub const CAP_VALUE: u32 = 1;
    pub const RESERVE_TYPE: u32 = 2;
    /// name; a = db (or NONE for XN's choice), b = nblocks; flags: KIND_*,
    /// TEMPORARY; upd.ty = root type; buf = initial bytes.
    pub const INSTALL_MOUNT: u32 = 3;
    pub const TYPE_IMPORT: u32 = 4;
    /// name; buf receives an [`XnCatEntry`].
    pub const LOOKUP: u32 = 5;
    pub const MOUNT: u32 = 6;
    /// a = db, b = n; with buf: `n` u64 physical page numbers of the
    /// caller's own unmapped pages, which the blocks are read into (they
    /// pass to the kernel while cached; unused ones come back).
    pub const READ_AND_INSERT: u32 = 7;
    /// a = parent; upd.
    pub const INSERT_ATTR: u32 = 8;
    /// a = parent; upd; mv; buf = initial bytes (flags INIT_BYTES).
    pub const ALLOC: u32 = 9;
    /// a = parent; upd; mv; mv2 = the child's modifications.
    pub const FREE: u32 = 10;
    /// a = src, b = dst, c = own_id; mv (src), mv2 (dst).
    pub const ADD_EDGE: u32 = 11;
    /// a = db, b = offset; buf receives the bytes.
    pub const READB: u32 = 12;
    /// a = db, b = offset; buf holds the bytes.
    pub const WRITEB: u32 = 13;
    /// a = db, b = n.
    pub const WRITEBACK: u32 = 14;
    /// a = hint, b = n; returns the block or Error::Xn(NoSpace).
    pub const FIND_FREE: u32 = 15;
    /// a = db, b = first partition, c = end partition; buf receives
    /// [`XnUpdate`]s; returns how many.
    pub const UDF_ENUM: u32 = 16;
    /// a = db; buf receives the registry entry (exo_xn::registry::XrAttr).
    pub const READ_ATTR: u32 = 17;
    /// a = db; returns the count, or u64::MAX when the type counts none.
    pub const GET_REFCNT: u32 = 18;
    /// Write everything back and mark the disk clean (root capability only).
    pub const SHUTDOWN: u32 = 19;
    /// Returns the number of blocks of the XN disk (NoEnv: no XN disk).
    pub const INFO: u32 = 20;
    /// buf receives the u64 block numbers of dirty blocks that may be
    /// written back now; returns how many (at most MAX_ENUM).
    pub const LIST_WRITEABLE: u32 = 21;
}

/// A readable name of an operation.
pub fn op_name(o: u64) -> &'static str {
    const NAMES: [&str; 22] = [
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
    ];
    NAMES.get(o as usize).copied().unwrap_or("unknown")
}

/// The start of the registry window ([`crate::layout::UXNREG`]); entries
/// follow at byte [`REGISTRY_ENTRIES`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct RegistryHeader {
    /// Entries shown (at most `capacity`).
    pub count: u64,
    pub capacity: u64,
    /// Entries in the registry (more than `count` if the window is full).
    pub total: u64,
    /// Bumped at every refresh.
    pub generation: u64,
}

pub const REGISTRY_ENTRIES: usize = 64;

/// `flags` bits.
pub const KIND_ROOT: u32 = 1;
pub const TEMPORARY: u32 = 2;
pub const INIT_BYTES: u32 = 4;

/// "No block given".
pub const NONE: u64 = u64::MAX;
/// Bounds the kernel enforces on one call.
pub const MAX_MODS: usize = 16;
pub const MAX_NAME: usize = 24;
pub const MAX_ENUM: usize = 512;
/// Most caller pages one READ_AND_INSERT takes.
pub const MAX_PAGES: usize = 64;

/// An extent being (de)allocated or bound (`struct xn_update`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XnUpdate {
    pub db: u64,
    pub nblocks: u64,
    pub own_id: u32,
    pub ty: u16,
    pub _pad: u16,
}

/// One byte-range modification: `len` bytes at `ptr` go to `offset`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct XnMod {
    pub offset: u64,
    pub ptr: u64,
    pub len: u64,
}

/// A catalogue entry (LOOKUP's answer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XnCatEntry {
    pub slot: u64,
    pub db: u64,
    pub nblocks: u64,
    pub ty: u16,
    pub is_root: u8,
    pub tainted: u8,
    pub _pad: u32,
}

/// The argument block of one XN call.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct XnArgs {
    pub op: u32,
    pub flags: u32,
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub upd: XnUpdate,
    pub name_ptr: u64,
    pub name_len: u64,
    pub buf_ptr: u64,
    pub buf_len: u64,
    pub mv_ptr: u64,
    pub mv_len: u64,
    pub mv2_ptr: u64,
    pub mv2_len: u64,
}
