//! This process's DPF packet ring: pages of its own memory registered with
//! the kernel, which copies every packet a filter of ours claims straight
//! into the next slot. We read slots in place and hand them back by
//! advancing `tail`; waiting is a wakeup predicate on `head`.

use crate::layout::NET_RING_VA;
use crate::{sys, vm};
use core::sync::atomic::{fence, Ordering};
use exo_abi::dpf::{slot_offset, RingHeader, SlotHeader, RING_HEAD, SLOT_DATA, SLOT_FRAME};
use exo_abi::syscall::Error;
use exo_abi::wakeup::{WkTerm, CMP_GE, CMP_NE};

pub struct Ring {
    va: u64,
}

impl Ring {
    /// Maps `npages` fresh pages and registers them as our ring.
    pub fn create(npages: u64) -> Result<Ring, Error> {
        for p in 0..npages {
            vm::map_fresh(NET_RING_VA + p * vm::PAGE_SIZE, true)?;
        }
        sys::net_ring(NET_RING_VA, npages)?;
        Ok(Ring { va: NET_RING_VA })
    }

    fn header(&self) -> *mut RingHeader {
        self.va as *mut RingHeader
    }

    /// Packets the kernel dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        // SAFETY: our mapped ring page; the kernel writes it only while we
        // are not running (one CPU), so a volatile read sees a whole value.
        unsafe { core::ptr::addr_of!((*self.header()).dropped).read_volatile() }
    }

    /// Takes the oldest packet: calls `f(frame, filter)` on it in place,
    /// then gives the slot back. None if the ring is empty.
    pub fn recv<R>(&mut self, f: impl FnOnce(&[u8], u32) -> R) -> Option<R> {
        let h = self.header();
        // SAFETY: as for `dropped`; the slot below lies inside the ring
        // (index modulo nslots), and its length is bounded by the slot size.
        unsafe {
            let head = core::ptr::addr_of!((*h).head).read_volatile();
            let tail = core::ptr::addr_of!((*h).tail).read_volatile();
            let nslots = core::ptr::addr_of!((*h).nslots).read_volatile().max(1);
            if head == tail {
                return None;
            }
            fence(Ordering::Acquire);
            let slot = self.va + slot_offset(tail, nslots);
            let sh = (slot as *const SlotHeader).read_volatile();
            let len = (sh.len as usize).min(SLOT_DATA);
            let r = f(
                core::slice::from_raw_parts((slot + SLOT_FRAME) as *const u8, len),
                sh.filter,
            );
            fence(Ordering::Release);
            core::ptr::addr_of_mut!((*h).tail).write_volatile(tail.wrapping_add(1));
            Some(r)
        }
    }

    /// Sleeps until a packet arrives or `deadline_tick` passes.
    pub fn wait(&self, deadline_tick: u64) {
        let h = self.header();
        // SAFETY: reading our own ring header.
        let (head, tail) = unsafe {
            (
                core::ptr::addr_of!((*h).head).read_volatile(),
                core::ptr::addr_of!((*h).tail).read_volatile(),
            )
        };
        if head != tail {
            return;
        }
        let _ = sys::wakeup(&[
            WkTerm::mem(self.va + RING_HEAD, 4, CMP_NE, head as u64),
            WkTerm::OR,
            WkTerm::ticks(CMP_GE, deadline_tick),
        ]);
    }
}
