//! A driver's side for device tests: queues in guest memory, chains of
//! descriptors put on them, notifications, and no vCPU.

use super::mmio::MmioTransport;
use super::VirtioDevice;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

pub const NEXT: u16 = 1;
pub const WRITE: u16 = 2;
/// Entries per test queue.
pub const QSIZE: u16 = 8;

pub struct Rig<D: VirtioDevice> {
    pub t: MmioTransport<D>,
    pub mem: GuestMemoryMmap,
    pub irq: EventFd,
    avail_idx: Vec<u16>,
}

/// Where queue `q`'s descriptor table, available and used rings live.
pub fn desc(q: usize) -> u64 {
    0x10_0000 + 0x1_0000 * q as u64
}
fn avail(q: usize) -> u64 {
    desc(q) + 0x1000
}
pub fn used(q: usize) -> u64 {
    desc(q) + 0x2000
}

fn reg<D: VirtioDevice>(t: &mut MmioTransport<D>, off: u64, v: u32) {
    t.write(off, &v.to_le_bytes());
}

impl<D: VirtioDevice> Rig<D> {
    /// The device reset, VERSION_1 negotiated, every queue set up, running.
    pub fn new(device: D) -> Self {
        let queues = device.queue_max_sizes().len();
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap();
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let mut t = MmioTransport::new(device, mem.clone(), irq.try_clone().unwrap());
        reg(&mut t, 0x070, 1 | 2);
        reg(&mut t, 0x024, 1);
        reg(&mut t, 0x020, 1); // VERSION_1
        reg(&mut t, 0x070, 1 | 2 | 8);
        for q in 0..queues {
            reg(&mut t, 0x030, q as u32);
            reg(&mut t, 0x038, QSIZE as u32);
            for (off, addr) in [(0x080, desc(q)), (0x090, avail(q)), (0x0a0, used(q))] {
                reg(&mut t, off, addr as u32);
                reg(&mut t, off + 4, 0);
            }
            reg(&mut t, 0x044, 1);
        }
        reg(&mut t, 0x070, 1 | 2 | 8 | 4);
        Rig {
            t,
            mem,
            irq,
            avail_idx: vec![0; queues],
        }
    }

    /// Writes a chain of (addr, len, flags) descriptors at table index
    /// `first` of queue `q` and makes it available, without notifying.
    pub fn offer_at(&mut self, q: usize, first: u16, chain: &[(u64, u32, u16)]) {
        for (i, &(addr, len, flags)) in chain.iter().enumerate() {
            let index = (first as usize + i) % QSIZE as usize;
            let d = desc(q) + 16 * index as u64;
            let last = i + 1 == chain.len();
            let next = if last { 0 } else { (index as u16 + 1) % QSIZE };
            let flags = flags | if last { 0 } else { NEXT };
            self.mem.write_obj(addr, GuestAddress(d)).unwrap();
            self.mem.write_obj(len, GuestAddress(d + 8)).unwrap();
            self.mem.write_obj(flags, GuestAddress(d + 12)).unwrap();
            self.mem.write_obj(next, GuestAddress(d + 14)).unwrap();
        }
        self.offer_head(q, first);
    }

    /// Makes descriptor `head` of queue `q` available as it stands.
    pub fn offer_head(&mut self, q: usize, head: u16) {
        let slot = avail(q) + 4 + 2 * (self.avail_idx[q] % QSIZE) as u64;
        self.mem.write_obj(head, GuestAddress(slot)).unwrap();
        self.avail_idx[q] = self.avail_idx[q].wrapping_add(1);
        self.mem
            .write_obj(self.avail_idx[q], GuestAddress(avail(q) + 2))
            .unwrap();
    }

    /// A chain at the start of queue `q`'s table, made available and notified.
    pub fn submit(&mut self, q: usize, chain: &[(u64, u32, u16)]) {
        self.offer_at(q, 0, chain);
        self.t.write(0x050, &(q as u32).to_le_bytes());
    }

    pub fn used_idx(&self, q: usize) -> u16 {
        self.mem.read_obj(GuestAddress(used(q) + 2)).unwrap()
    }

    /// The (descriptor id, length) of used element `n` of queue `q`.
    pub fn used_elem(&self, q: usize, n: u16) -> (u32, u32) {
        let e = used(q) + 4 + 8 * (n % QSIZE) as u64;
        (
            self.mem.read_obj(GuestAddress(e)).unwrap(),
            self.mem.read_obj(GuestAddress(e + 4)).unwrap(),
        )
    }

    pub fn avail_idx(&self, q: usize) -> u16 {
        self.avail_idx[q]
    }
}
