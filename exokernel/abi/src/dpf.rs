//! DPF from an environment: filters installed by system call, and the
//! packet ring where the kernel delivers the packets they claim.
//!
//! A ring is `npages` pages of the environment's memory registered with
//! `net_ring(va, npages)`: a [`RingHeader`] page, then slots of
//! [`SLOT_SIZE`] bytes (two per page), each a [`SlotHeader`] and the frame.
//! The kernel fills slot `head % nslots` and then advances `head`; the
//! environment consumes slot `tail % nslots` and then advances `tail`. A
//! full ring drops the packet and counts it.

/// `dpf_insert(text_ptr, text_len) -> filter id`: install a filter given as
/// atoms in `exo dpf` syntax (`12:2=0x0800 23:1=17 ip_hl 2:2=53`). Invalid:
/// a malformed filter; Taken: it overlaps another environment's filter that
/// was not shared; NoMem: a DPF limit.
pub const DPF_INSERT: u64 = 32;
/// `dpf_remove(id)`: remove one of the caller's filters.
pub const DPF_REMOVE: u64 = 33;
/// `dpf_permit(id, env)`: let `env` (0: anyone) install filters overlapping
/// the caller's filter `id`.
pub const DPF_PERMIT: u64 = 34;
/// `net_ring(va, npages)`: register the caller's packet ring (page-aligned,
/// [`MIN_RING_PAGES`]..=[`MAX_RING_PAGES`] pages, mapped writable); 0 pages
/// unregisters.
pub const NET_RING: u64 = 35;
/// `net_poll() -> n`: demultiplex the packets the device holds now (the
/// kernel also does at every timer tick); returns how many were taken.
pub const NET_POLL: u64 = 36;
/// `dpf_tx_filter(text_ptr, text_len)`: the caller's frames must match this
/// filter to be sent (against spoofing); an empty text removes it.
pub const DPF_TX_FILTER: u64 = 37;

pub const SLOT_SIZE: usize = 2048;
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
