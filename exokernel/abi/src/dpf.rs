//! DPF from an environment: filters installed by system call, and the
//! packet ring where the kernel delivers the packets they claim.
//!
//! A ring is `npages` pages of the environment's memory registered with
//! `net_ring(va, npages)`: a [`RingHeader`] page, then slots of
//! [`SLOT_SIZE`] bytes (two per page), each a [`SlotHeader`] and the frame.
//! The kernel fills slot `head % nslots` and then advances `head`; the
//! environment consumes slot `tail % nslots` and then advances `tail`. A
//! full ring drops the packet and counts it.

/// Longest filter text a call takes.
pub const MAX_FILTER_TEXT: usize = 512;
/// A filter's text (at least one atom).
pub type FilterText = crate::syscall::arg::UserBytes<1, { MAX_FILTER_TEXT as u64 }>;

/// Most repetitions of one `dpf_classify` call.
pub const MAX_CLASSIFY_REPEAT: u64 = 10_000;

/// Bytes of one slot: a [`SlotHeader`], then the frame.
pub const SLOT_SIZE: usize = 2048;
/// Where slot 0 starts: the header has the first page to itself.
pub const RING_SLOTS: u64 = 4096;
pub const MIN_RING_PAGES: u64 = 2;
pub const MAX_RING_PAGES: u64 = 33;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct RingHeader {
    /// Written by the kernel: slots filled so far.
    pub head: u32,
    /// Written by the environment: slots consumed so far.
    pub tail: u32,
    pub nslots: u32,
    pub slot_size: u32,
    /// Packets dropped because the ring was full.
    pub dropped: u64,
}

#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SlotHeader {
    pub len: u32,
    /// The filter that claimed the packet.
    pub filter: u32,
}

/// Bytes of frame a slot holds.
pub const SLOT_DATA: usize = SLOT_SIZE - core::mem::size_of::<SlotHeader>();
/// Where a slot's frame starts, from the slot's start.
pub const SLOT_FRAME: u64 = core::mem::size_of::<SlotHeader>() as u64;

/// Byte offsets in [`RingHeader`] that each side writes alone.
pub const RING_HEAD: u64 = core::mem::offset_of!(RingHeader, head) as u64;
pub const RING_TAIL: u64 = core::mem::offset_of!(RingHeader, tail) as u64;
pub const RING_DROPPED: u64 = core::mem::offset_of!(RingHeader, dropped) as u64;

/// Slots in a ring of `npages` pages.
pub const fn ring_slots(npages: u64) -> u32 {
    (npages.saturating_sub(1) * 4096 / SLOT_SIZE as u64) as u32
}

/// The offset of slot `index` (taken modulo `nslots`) from the ring's start.
pub const fn slot_offset(index: u32, nslots: u32) -> u64 {
    let n = if nslots == 0 { 1 } else { nslots };
    RING_SLOTS + (index % n) as u64 * SLOT_SIZE as u64
}
