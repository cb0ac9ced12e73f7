//! Batched page-table operations (`vm_batch`). Each operation names the
//! capability slot that proves access to the physical page.

pub const OP_MAP: u32 = 0;
pub const OP_UNMAP: u32 = 1;
pub const OP_PROTECT: u32 = 2;

/// `flags`: writable.
pub const MAP_WRITE: u64 = 1 << 1;
/// `flags`: executable.
pub const MAP_EXEC: u64 = 1 << 0;
/// `flags`: the libOS's software PTE bits, stored as given.
pub const MAP_SOFT_MASK: u64 = 0x7 << 9;

/// Most operations in one batch.
pub const MAX_BATCH: usize = 512;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmOp {
    pub op: u32,
    /// Capability slot guarding the page (MAP and PROTECT).
    pub cap_slot: u32,
    pub va: u64,
    /// Physical page number (MAP).
    pub ppn: u64,
    pub flags: u64,
}
