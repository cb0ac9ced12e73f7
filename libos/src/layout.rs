//! Where the library OS keeps things in every process's address space, and
//! its capability-slot conventions.

/// The heap grows up from here (sbrk).
pub const HEAP_BASE: u64 = 0x1000_0000_0000;
pub const HEAP_MAX: u64 = 1 << 30;
/// This process's information page (pid, arguments, file descriptors).
pub const PINFO_VA: u64 = 0x7e00_0000_0000;
/// The process table: entry `slot` at `PROCTAB_VA + slot * 4096` (see
/// `process::table`).
pub const PROCTAB_VA: u64 = 0x7e00_0001_0000;
/// The library file system's lock, shared by all processes (see `fslock`).
pub const FS_LOCK_VA: u64 = 0x7e00_0000_1000;
/// Pipes: pipe `i` is `PIPE_PAGES` pages at `PIPE_BASE + i * PIPE_BYTES`
/// in every process using it (64 KiB, as Linux's: a writer fills it before
/// the reader must run).
pub const PIPE_BASE: u64 = 0x7e00_1000_0000;
pub const MAX_PIPES: u64 = 256;
pub const PIPE_PAGES: u64 = 16;
pub const PIPE_BYTES: u64 = PIPE_PAGES * 4096;
/// Where the library file system maps XN's cached blocks read-only (see
/// `xn::Sys::map_block`): `XN_MAP_SLOTS` pages, a block at the slot its
/// number picks.
pub const XN_MAP_BASE: u64 = 0x7e00_3000_0000;
pub const XN_MAP_SLOTS: u64 = 256;
/// The DPF packet ring (see `net::ring`).
pub const NET_RING_VA: u64 = 0x7e00_2000_0000;
/// Where pages are staged while being filled (for a child, or by fork's
/// copy-on-write fault handler, which has a window of its own: the fault
/// may interrupt normal code that is using the first).
pub const SCRATCH: u64 = 0x6000_0000_0000;
pub const UPCALL_SCRATCH: u64 = SCRATCH + 0x1000;
/// The program image (linked at 4 MiB) and the main stack, as scanned for
/// the pages a child of the same program gets.
pub const IMAGE: (u64, u64) = (0x40_0000, 0x40_0000 + (64 << 20));
pub const MAIN_STACK: (u64, u64) = (
    exo_abi::layout::USER_STACK_TOP - (1 << 20),
    exo_abi::layout::USER_STACK_TOP,
);

/// Capability slot 0: this process's own capability (controls itself).
pub const SLOT_SELF: usize = 0;
/// Capability slot 1: the libOS's shared capability (the file system's
/// credential).
pub const SLOT_SHARED: usize = 1;
/// The name the first process extends its own (the root) capability by to
/// make the shared one: `exo xn mkfs` makes a tree this capability owns.
pub const SHARED_CAP_EXT: &[u8] = b"P";
/// Capability slot 2: the process table's reader (read-only: every
/// process's entry may be read by all, written only by its owner).
pub const SLOT_TABLE: usize = 2;
/// Slots from here on hold capabilities over children and per-pipe
/// capabilities.
pub const SLOT_CHILDREN: usize = 3;
/// The name the table's reader capability extends the first process's by.
pub const TABLE_CAP_EXT: &[u8] = b"\x7eT";
/// What a pipe's capability extends its creator's by (then the pipe index).
pub const PIPE_CAP_TAG: u8 = 0x7f;
