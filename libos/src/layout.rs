//! Where the library OS keeps things in every process's address space, and
//! its capability-slot conventions.

/// The heap grows up from here (sbrk).
pub const HEAP_BASE: u64 = 0x1000_0000_0000;
pub const HEAP_MAX: u64 = 1 << 30;
/// This process's information page (pid, arguments, file descriptors).
pub const PINFO_VA: u64 = 0x7e00_0000_0000;
/// The process table, shared by every process of this libOS.
pub const PROCTAB_VA: u64 = 0x7e00_0001_0000;
/// Pipe pages: pipe `i` is at `PIPE_BASE + i * 4096` in every process using it.
pub const PIPE_BASE: u64 = 0x7e00_1000_0000;
pub const MAX_PIPES: u64 = 256;
/// The DPF packet ring (see `net::ring`).
pub const NET_RING_VA: u64 = 0x7e00_2000_0000;
/// Where pages are staged while being filled for another environment.
pub const SCRATCH: u64 = 0x6000_0000_0000;

/// Capability slot 0: this process's own capability (controls itself).
pub const SLOT_SELF: usize = 0;
/// Capability slot 1: the libOS's shared capability (process table, pipes).
pub const SLOT_SHARED: usize = 1;
/// Slots from here on hold capabilities over children.
pub const SLOT_CHILDREN: usize = 2;
