//! virtio-blk: one split virtqueue, one request in flight, polled. The kernel
//! owns the disk; environments reach it through XN once it holds an XN file
//! system, or as raw sectors with the root capability before
//! (`blk_calls.rs`).

use super::virtio_mmio::{SetupError, Transport};
use super::MmioDevice;
use crate::mem::{frames, paging, phys_to_virt, PAGE_SIZE};
use core::sync::atomic::{fence, Ordering};
use spin::Mutex;

const DEVICE_ID_BLOCK: u32 = 2;
const QUEUE_SIZE: u32 = 8;
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;
pub const SECTOR: u64 = 512;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkError {
    /// Beyond the end of the disk.
    Range,
    /// The device reported an error (e.g. a write to a read-only disk).
    Device(u8),
    /// The device did not answer.
    Timeout,
}

#[repr(C)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

/// The disk.
pub struct Blk {
    t: Transport,
    /// Physical pages: the queue (desc/avail/used), the request header and
    /// status, and the data bounce buffer.
    queue: u64,
    req: u64,
    pub data: u64,
    num: u16,
    avail_idx: u16,
    pub capacity: u64,
}

const AVAIL: u64 = 0x400;
const USED: u64 = 0x800;

pub static BLK: Mutex<Option<Blk>> = Mutex::new(None);

impl Blk {
    /// Brings up the virtio-blk device at `dev`.
    pub fn probe(dev: MmioDevice) -> Result<Blk, SetupError> {
        paging::map_mmio(dev.base, dev.size.max(0x200)).map_err(|_| SetupError::NoQueue)?;
        let t = Transport::new(dev.base);
        t.init(DEVICE_ID_BLOCK, 0)?;
        let (queue, req, data) = match (frames::alloc(), frames::alloc(), frames::alloc()) {
            (Some(q), Some(r), Some(d)) => (q, r, d),
            _ => return Err(SetupError::NoQueue),
        };
        let num = t.setup_queue(0, QUEUE_SIZE, queue, queue + AVAIL, queue + USED)? as u16;
        t.driver_ok();
        let capacity = t.config_u64(0);
        Ok(Blk {
            t,
            queue,
            req,
            data,
            num,
            avail_idx: 0,
            capacity,
        })
    }

    fn desc(&self, i: u16) -> *mut Desc {
        (phys_to_virt(self.queue) as *mut Desc).wrapping_add(i as usize)
    }

    /// Runs one request on `len` bytes of the bounce buffer.
    fn request(&mut self, kind: u32, sector: u64, len: u32) -> Result<(), BlkError> {
        let hdr = phys_to_virt(self.req);
        // SAFETY: our own kernel pages (header/status, queue) in the kernel
        // region; the device reads/writes them only between notify and the
        // used-ring update we wait for.
        unsafe {
            (hdr as *mut u32).write_volatile(kind);
            (hdr.add(4) as *mut u32).write_volatile(0);
            (hdr.add(8) as *mut u64).write_volatile(sector);
            hdr.add(16).write_volatile(0xff);
            let data_flags = if kind == T_IN { DESC_WRITE } else { 0 };
            let mut n = 0u16;
            self.desc(0).write_volatile(Desc {
                addr: self.req,
                len: 16,
                flags: DESC_NEXT,
                next: 1,
            });
            n += 1;
            if len > 0 {
                self.desc(1).write_volatile(Desc {
                    addr: self.data,
                    len,
                    flags: data_flags | DESC_NEXT,
                    next: 2,
                });
                n += 1;
            } else {
                (*self.desc(0)).next = 2;
            }
            self.desc(2).write_volatile(Desc {
                addr: self.req + 16,
                len: 1,
                flags: DESC_WRITE,
                next: 0,
            });
            let _ = n;
            let avail = phys_to_virt(self.queue + AVAIL) as *mut u16;
            avail
                .add(2 + (self.avail_idx % self.num) as usize)
                .write_volatile(0);
            fence(Ordering::SeqCst);
            self.avail_idx = self.avail_idx.wrapping_add(1);
            avail.add(1).write_volatile(self.avail_idx);
            self.t.notify(0);
            let used_idx = phys_to_virt(self.queue + USED).add(2) as *const u16;
            let mut spins = 0u64;
            while used_idx.read_volatile() != self.avail_idx {
                spins += 1;
                if spins > 200_000_000 {
                    return Err(BlkError::Timeout);
                }
                core::hint::spin_loop();
            }
            fence(Ordering::SeqCst);
            self.t.ack_interrupts();
            match hdr.add(16).read_volatile() {
                0 => Ok(()),
                s => Err(BlkError::Device(s)),
            }
        }
    }

    fn check(&self, sector: u64, len: u64) -> Result<(), BlkError> {
        let end = sector
            .checked_add(len.div_ceil(SECTOR))
            .ok_or(BlkError::Range)?;
        if end > self.capacity || len > PAGE_SIZE || !len.is_multiple_of(SECTOR) {
            return Err(BlkError::Range);
        }
        Ok(())
    }

    /// Reads `len` bytes (≤ 4 KiB, whole sectors) at `sector` into the bounce buffer.
    pub fn read(&mut self, sector: u64, len: u64) -> Result<&[u8], BlkError> {
        self.check(sector, len)?;
        self.request(T_IN, sector, len as u32)?;
        // SAFETY: the bounce page is ours and the device is done with it.
        Ok(unsafe { core::slice::from_raw_parts(phys_to_virt(self.data), len as usize) })
    }

    /// Writes `data` (≤ 4 KiB, whole sectors) at `sector`.
    pub fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlkError> {
        self.check(sector, data.len() as u64)?;
        // SAFETY: the bounce page is ours; the device only reads it after notify.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), phys_to_virt(self.data), data.len())
        };
        self.request(T_OUT, sector, data.len() as u32)
    }

    /// Makes written data durable.
    pub fn flush(&mut self) -> Result<(), BlkError> {
        self.request(T_FLUSH, 0, 0)
    }
}
