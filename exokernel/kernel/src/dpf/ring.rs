//! Delivery into an environment's packet ring, through that environment's
//! own page tables: if it unmapped or write-protected the ring, delivery
//! fails and the packet is counted as dropped; the kernel never trusts the
//! ring's contents beyond bounding `tail`.

use crate::mem::user;
use exo_abi::dpf::{
    ring_slots, slot_offset, RingHeader, SlotHeader, RING_DROPPED, RING_HEAD, RING_TAIL, SLOT_DATA,
    SLOT_FRAME, SLOT_SIZE,
};

/// A registered ring.
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    pub va: u64,
    pub nslots: u32,
    /// Slots filled so far: the kernel's own copy, authoritative.
    pub head: u32,
    pub dropped: u64,
}

impl Ring {
    pub fn new(va: u64, npages: u64) -> Ring {
        Ring {
            va,
            nslots: ring_slots(npages),
            head: 0,
            dropped: 0,
        }
    }

    /// Writes a fresh header into the environment's memory.
    pub fn publish(&self, pml4: u64) -> Result<(), user::BadAddress> {
        let h = RingHeader {
            head: self.head,
            tail: self.head,
            nslots: self.nslots,
            slot_size: SLOT_SIZE as u32,
            dropped: self.dropped,
        };
        user::copy_out_in(pml4, self.va, user::bytes_of(&h))
    }

    /// Puts `frame` (claimed by `filter`) into the ring of the address space
    /// `pml4`; false if it was dropped.
    pub fn deliver(&mut self, pml4: u64, filter: u32, frame: &[u8]) -> bool {
        let tail =
            user::read_word_in(pml4, self.va + RING_TAIL, 4).unwrap_or(self.head as u64) as u32;
        let used = self.head.wrapping_sub(tail);
        let len = frame.len().min(SLOT_DATA);
        let ok = used < self.nslots && {
            let slot = self.va + slot_offset(self.head, self.nslots);
            let sh = SlotHeader {
                len: len as u32,
                filter,
            };
            user::copy_out_in(pml4, slot, user::bytes_of(&sh)).is_ok()
                && user::copy_out_in(pml4, slot + SLOT_FRAME, &frame[..len]).is_ok()
        };
        if ok {
            self.head = self.head.wrapping_add(1);
            let _ = user::copy_out_in(pml4, self.va + RING_HEAD, &self.head.to_le_bytes());
        } else {
            self.dropped += 1;
            let _ = user::copy_out_in(pml4, self.va + RING_DROPPED, &self.dropped.to_le_bytes());
        }
        ok
    }
}
