//! A split virtqueue in one physical page: descriptors at 0, the available
//! ring at 0x400, the used ring at 0x800 (room for 64 entries).

use crate::mem::phys_to_virt;
use core::sync::atomic::{fence, Ordering};

pub const AVAIL: u64 = 0x400;
pub const USED: u64 = 0x800;
pub const DESC_NEXT: u16 = 1;
pub const DESC_WRITE: u16 = 2;

pub struct SplitQueue {
    page: u64,
    pub num: u16,
    avail_idx: u16,
    last_used: u16,
}

impl SplitQueue {
    /// A queue of `num` (≤ 64) entries in the zeroed page at physical `page`.
    pub fn new(page: u64, num: u16) -> SplitQueue {
        SplitQueue {
            page,
            num,
            avail_idx: 0,
            last_used: 0,
        }
    }

    /// Physical addresses of the descriptor table, available and used rings.
    pub fn addrs(&self) -> (u64, u64, u64) {
        (self.page, self.page + AVAIL, self.page + USED)
    }

    /// Fills descriptor `i`.
    pub fn set_desc(&mut self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let d = phys_to_virt(self.page + 16 * (i % self.num) as u64);
        // SAFETY: descriptor `i` lies in our queue page; the device reads it
        // only once it is made available.
        unsafe {
            (d as *mut u64).write_volatile(addr);
            (d.add(8) as *mut u32).write_volatile(len);
            (d.add(12) as *mut u16).write_volatile(flags);
            (d.add(14) as *mut u16).write_volatile(next);
        }
    }

    /// Makes the chain starting at descriptor `head` available.
    pub fn push(&mut self, head: u16) {
        let avail = phys_to_virt(self.page + AVAIL) as *mut u16;
        // SAFETY: the ring slot and index lie in our queue page.
        unsafe {
            avail
                .add(2 + (self.avail_idx % self.num) as usize)
                .write_volatile(head);
            fence(Ordering::SeqCst);
            self.avail_idx = self.avail_idx.wrapping_add(1);
            avail.add(1).write_volatile(self.avail_idx);
        }
        fence(Ordering::SeqCst);
    }

    /// The next (descriptor id, bytes written) the device has used, if any,
    /// without consuming it.
    pub fn peek_used(&self) -> Option<(u16, u32)> {
        let used = phys_to_virt(self.page + USED);
        // SAFETY: the used ring lies in our queue page.
        unsafe {
            let idx = (used.add(2) as *const u16).read_volatile();
            if idx == self.last_used {
                return None;
            }
            fence(Ordering::SeqCst);
            let e = used.add(4 + 8 * (self.last_used % self.num) as usize);
            let id = (e as *const u32).read_volatile();
            let len = (e.add(4) as *const u32).read_volatile();
            Some(((id % self.num as u32) as u16, len))
        }
    }

    /// Consumes the element [`SplitQueue::peek_used`] showed.
    pub fn pop_used(&mut self) {
        self.last_used = self.last_used.wrapping_add(1);
    }
}
