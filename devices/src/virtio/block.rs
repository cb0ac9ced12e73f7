//! virtio-blk backed by a raw image file: read, write, flush and get-id,
//! every request checked against the chain's shape and the disk's size.

use super::VirtioDevice;
use std::fs::File;
use std::os::unix::fs::FileExt;
use virtio_queue::{Queue, QueueT};
use vm_memory::Address;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const DEVICE_ID: u32 = 2;
const F_RO: u64 = 1 << 5;
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
const SECTOR: u64 = 512;

pub struct Block {
    file: File,
    sectors: u64,
    readonly: bool,
    id: [u8; 20],
}

impl Block {
    /// A disk on `file`; its size must be a multiple of 512 (checked by the caller too).
    pub fn new(file: File, readonly: bool, id: &str) -> std::io::Result<Block> {
        let len = file.metadata()?.len();
        let mut ident = [0u8; 20];
        let n = id.len().min(20);
        ident[..n].copy_from_slice(&id.as_bytes()[..n]);
        Ok(Block {
            file,
            sectors: len / SECTOR,
            readonly,
            id: ident,
        })
    }

    /// Serves one request; returns its status and the bytes written to the guest.
    fn serve(
        &mut self,
        mem: &GuestMemoryMmap,
        descs: &[(GuestAddress, u32, bool)],
    ) -> Option<(GuestAddress, u8, u32)> {
        // header (readable), data..., status (writable, last)
        let (&(hdr, hlen, hw), rest) = descs.split_first()?;
        let (&(status, slen, sw), data) = rest.split_last()?;
        if hw || hlen < 16 || !sw || slen < 1 {
            return None;
        }
        let kind: u32 = mem.read_obj(hdr).ok()?;
        let sector: u64 = mem.read_obj(hdr.checked_add(8)?).ok()?;
        let total: u64 = data.iter().map(|d| d.1 as u64).sum();
        let in_range = sector
            .checked_mul(SECTOR)
            .and_then(|o| o.checked_add(total))
            .is_some_and(|end| end <= self.sectors * SECTOR);
        let mut written = 0u32;
        let result = match kind {
            T_IN | T_OUT if !in_range || !total.is_multiple_of(SECTOR) => S_IOERR,
            T_IN if data.iter().any(|d| !d.2) => S_IOERR,
            T_OUT if data.iter().any(|d| d.2) => S_IOERR,
            T_OUT if self.readonly => S_IOERR,
            T_IN | T_OUT => {
                let mut off = sector * SECTOR;
                let mut ok = true;
                for &(addr, len, _) in data {
                    let mut buf = vec![0u8; len as usize];
                    ok &= if kind == T_IN {
                        self.file.read_exact_at(&mut buf, off).is_ok()
                            && mem.write_slice(&buf, addr).is_ok()
                    } else {
                        mem.read_slice(&mut buf, addr).is_ok()
                            && self.file.write_all_at(&buf, off).is_ok()
                    };
                    if kind == T_IN {
                        written += len;
                    }
                    off += len as u64;
                }
                if ok {
                    S_OK
                } else {
                    S_IOERR
                }
            }
            T_FLUSH => {
                if self.file.sync_data().is_ok() {
                    S_OK
                } else {
                    S_IOERR
                }
            }
            T_GET_ID => match data.first() {
                Some(&(addr, len, true)) if len as usize >= self.id.len() => {
                    written = self.id.len() as u32;
                    if mem.write_slice(&self.id, addr).is_ok() {
                        S_OK
                    } else {
                        S_IOERR
                    }
                }
                _ => S_IOERR,
            },
            _ => S_UNSUPP,
        };
        Some((status, result, written + 1))
    }
}

impl VirtioDevice for Block {
    fn device_id(&self) -> u32 {
        DEVICE_ID
    }

    fn features(&self) -> u64 {
        if self.readonly {
            F_RO
        } else {
            0
        }
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[128]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let cap = self.sectors.to_le_bytes();
        for (i, b) in data.iter_mut().enumerate() {
            *b = cap.get(offset as usize + i).copied().unwrap_or(0);
        }
    }

    fn process(&mut self, _index: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            // virtio-queue bounds the walk (loops, chains longer than the queue).
            let descs: Vec<(GuestAddress, u32, bool)> = chain
                .clone()
                .take(256)
                .map(|d| (d.addr(), d.len(), d.is_write_only()))
                .collect();
            let len = match self.serve(mem, &descs) {
                Some((status_addr, status, len)) => {
                    if mem.write_obj(status, status_addr).is_err() {
                        0
                    } else {
                        len
                    }
                }
                None => 0, // malformed chain: returned unused, with nothing written
            };
            if queue.add_used(mem, head, len).is_err() {
                break;
            }
            used = true;
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::mmio::MmioTransport;
    use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

    const DESC: u64 = 0x1000;
    const AVAIL: u64 = 0x2000;
    const USED: u64 = 0x3000;
    const NEXT: u16 = 1;
    const WRITE: u16 = 2;

    struct Rig {
        t: MmioTransport<Block>,
        mem: GuestMemoryMmap,
        irq: EventFd,
        path: std::path::PathBuf,
        avail_idx: u16,
    }

    fn reg(t: &mut MmioTransport<Block>, off: u64, v: u32) {
        t.write(off, &v.to_le_bytes());
    }

    fn rig(name: &str, readonly: bool) -> Rig {
        let path = std::env::temp_dir().join(format!("exo-blk-{}-{name}", std::process::id()));
        let mut img = vec![0u8; 64 * 512];
        img[512..516].copy_from_slice(b"DATA");
        std::fs::write(&path, &img).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let mut t = MmioTransport::new(
            Block::new(file, readonly, "test").unwrap(),
            mem.clone(),
            irq.try_clone().unwrap(),
        );
        reg(&mut t, 0x070, 1 | 2);
        reg(&mut t, 0x024, 1);
        reg(&mut t, 0x020, 1); // VERSION_1
        reg(&mut t, 0x070, 1 | 2 | 8);
        reg(&mut t, 0x030, 0);
        reg(&mut t, 0x038, 8);
        for (off, addr) in [(0x080, DESC), (0x090, AVAIL), (0x0a0, USED)] {
            reg(&mut t, off, addr as u32);
            reg(&mut t, off + 4, 0);
        }
        reg(&mut t, 0x044, 1);
        reg(&mut t, 0x070, 1 | 2 | 8 | 4);
        Rig {
            t,
            mem,
            irq,
            path,
            avail_idx: 0,
        }
    }

    impl Rig {
        /// Puts a chain of (addr, len, flags) descriptors on the ring and notifies.
        fn submit(&mut self, chain: &[(u64, u32, u16)]) {
            for (i, &(addr, len, flags)) in chain.iter().enumerate() {
                let d = DESC + 16 * i as u64;
                let next = if i + 1 < chain.len() {
                    (i + 1) as u16
                } else {
                    0
                };
                let flags = flags | if i + 1 < chain.len() { NEXT } else { 0 };
                self.mem.write_obj(addr, GuestAddress(d)).unwrap();
                self.mem.write_obj(len, GuestAddress(d + 8)).unwrap();
                self.mem.write_obj(flags, GuestAddress(d + 12)).unwrap();
                self.mem.write_obj(next, GuestAddress(d + 14)).unwrap();
            }
            self.mem
                .write_obj(
                    0u16,
                    GuestAddress(AVAIL + 4 + 2 * (self.avail_idx % 8) as u64),
                )
                .unwrap();
            self.avail_idx += 1;
            self.mem
                .write_obj(self.avail_idx, GuestAddress(AVAIL + 2))
                .unwrap();
            self.t.write(0x050, &0u32.to_le_bytes());
        }

        fn header(&self, kind: u32, sector: u64) {
            self.mem.write_obj(kind, GuestAddress(0x4000)).unwrap();
            self.mem.write_obj(sector, GuestAddress(0x4008)).unwrap();
            self.mem.write_obj(0xffu8, GuestAddress(0x4010)).unwrap();
        }

        fn status(&self) -> u8 {
            self.mem.read_obj(GuestAddress(0x4010)).unwrap()
        }

        fn used_idx(&self) -> u16 {
            self.mem.read_obj(GuestAddress(USED + 2)).unwrap()
        }
    }

    #[test]
    fn read_write_flush_and_id_round_trip() {
        let mut r = rig("rw", false);
        r.header(T_IN, 1);
        r.submit(&[(0x4000, 16, 0), (0x5000, 512, WRITE), (0x4010, 1, WRITE)]);
        assert_eq!((r.status(), r.used_idx()), (S_OK, 1));
        let mut b = [0u8; 4];
        r.mem.read_slice(&mut b, GuestAddress(0x5000)).unwrap();
        assert_eq!(&b, b"DATA");
        assert_eq!(
            r.irq.read().unwrap(),
            1,
            "used buffers interrupt the driver"
        );
        r.mem
            .write_slice(b"HOST SEES THIS", GuestAddress(0x6000))
            .unwrap();
        r.header(T_OUT, 3);
        r.submit(&[(0x4000, 16, 0), (0x6000, 512, 0), (0x4010, 1, WRITE)]);
        assert_eq!(r.status(), S_OK);
        r.header(T_FLUSH, 0);
        r.submit(&[(0x4000, 16, 0), (0x4010, 1, WRITE)]);
        assert_eq!(r.status(), S_OK);
        let img = std::fs::read(&r.path).unwrap();
        assert_eq!(&img[3 * 512..3 * 512 + 14], b"HOST SEES THIS");
        r.header(T_GET_ID, 0);
        r.submit(&[(0x4000, 16, 0), (0x7000, 20, WRITE), (0x4010, 1, WRITE)]);
        let mut id = [0u8; 4];
        r.mem.read_slice(&mut id, GuestAddress(0x7000)).unwrap();
        assert_eq!((r.status(), &id), (S_OK, b"test"));
        let mut cap = [0u8; 8];
        r.t.read(0x100, &mut cap);
        assert_eq!(u64::from_le_bytes(cap), 64);
        let _ = std::fs::remove_file(&r.path);
    }

    #[test]
    fn malformed_requests_fail_without_harm() {
        let mut r = rig("bad", true);
        // Beyond the end of the disk.
        r.header(T_IN, 64);
        r.submit(&[(0x4000, 16, 0), (0x5000, 512, WRITE), (0x4010, 1, WRITE)]);
        assert_eq!(r.status(), S_IOERR);
        // A write to a read-only disk.
        r.header(T_OUT, 0);
        r.submit(&[(0x4000, 16, 0), (0x5000, 512, 0), (0x4010, 1, WRITE)]);
        assert_eq!(r.status(), S_IOERR);
        // Data outside guest memory.
        r.header(T_IN, 0);
        r.submit(&[
            (0x4000, 16, 0),
            (u64::MAX - 100, 512, WRITE),
            (0x4010, 1, WRITE),
        ]);
        assert_ne!(r.status(), S_OK);
        // A partial sector, a read-only status byte, an unknown request.
        r.header(T_IN, 0);
        r.submit(&[(0x4000, 16, 0), (0x5000, 100, WRITE), (0x4010, 1, WRITE)]);
        assert_eq!(r.status(), S_IOERR);
        r.header(T_IN, 0);
        r.submit(&[(0x4000, 16, 0), (0x5000, 512, WRITE), (0x4010, 1, 0)]);
        assert_eq!(
            r.status(),
            0xff,
            "no status written through a read-only descriptor"
        );
        r.header(99, 0);
        r.submit(&[(0x4000, 16, 0), (0x4010, 1, WRITE)]);
        assert_eq!(r.status(), S_UNSUPP);
        // A descriptor loop: descriptor 0 points at itself.
        r.header(T_IN, 0);
        r.mem.write_obj(0x4000u64, GuestAddress(DESC)).unwrap();
        r.mem.write_obj(16u32, GuestAddress(DESC + 8)).unwrap();
        r.mem.write_obj(NEXT, GuestAddress(DESC + 12)).unwrap();
        r.mem.write_obj(0u16, GuestAddress(DESC + 14)).unwrap();
        r.mem
            .write_obj(0u16, GuestAddress(AVAIL + 4 + 2 * (r.avail_idx % 8) as u64))
            .unwrap();
        r.avail_idx += 1;
        r.mem
            .write_obj(r.avail_idx, GuestAddress(AVAIL + 2))
            .unwrap();
        r.t.write(0x050, &0u32.to_le_bytes());
        assert_eq!(
            r.used_idx(),
            r.avail_idx,
            "every chain, even a bad one, is returned"
        );
        // Notifying a queue that does not exist, or with a bad size, is ignored.
        r.t.write(0x050, &7u32.to_le_bytes());
        let _ = std::fs::remove_file(&r.path);
    }
}
