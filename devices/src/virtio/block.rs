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
/// The most host memory one request's data passes through at a time.
const CHUNK: usize = 64 << 10;

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
    /// Data moves through a buffer of at most `CHUNK` bytes.
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
                // One bounded buffer, whatever lengths the guest states.
                let mut buf = vec![0u8; CHUNK.min(total as usize)];
                for &(addr, len, _) in data {
                    let mut done = 0u64;
                    while ok && done < len as u64 {
                        let n = (len as u64 - done).min(CHUNK as u64) as usize;
                        let (b, at) = (&mut buf[..n], addr.checked_add(done));
                        ok &= match (kind, at) {
                            (T_IN, Some(at)) => {
                                self.file.read_exact_at(b, off + done).is_ok()
                                    && mem.write_slice(b, at).is_ok()
                            }
                            (_, Some(at)) => {
                                mem.read_slice(b, at).is_ok()
                                    && self.file.write_all_at(b, off + done).is_ok()
                            }
                            (_, None) => false,
                        };
                        done += n as u64;
                    }
                    if kind == T_IN {
                        written = written.saturating_add(len);
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
    use crate::virtio::test_rig::{desc, Rig, NEXT, WRITE};

    /// A rig on a 64-sector image whose sector 1 begins "DATA".
    fn rig(name: &str, readonly: bool) -> (Rig<Block>, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("exo-blk-{}-{name}", std::process::id()));
        let mut img = vec![0u8; 64 * 512];
        img[512..516].copy_from_slice(b"DATA");
        std::fs::write(&path, &img).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (Rig::new(Block::new(file, readonly, "test").unwrap()), path)
    }

    fn header(r: &Rig<Block>, kind: u32, sector: u64) {
        r.mem.write_obj(kind, GuestAddress(0x4000)).unwrap();
        r.mem.write_obj(sector, GuestAddress(0x4008)).unwrap();
        r.mem.write_obj(0xffu8, GuestAddress(0x4010)).unwrap();
    }

    fn status(r: &Rig<Block>) -> u8 {
        r.mem.read_obj(GuestAddress(0x4010)).unwrap()
    }

    #[test]
    fn a_huge_descriptor_on_a_big_disk_is_refused_without_a_huge_buffer() {
        // 8 GiB, sparse: a 4 GiB read is in range for the disk.
        let path = std::env::temp_dir().join(format!("exo-blk-{}-huge", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(8 << 30).unwrap();
        let mut r = Rig::new(Block::new(file, false, "huge").unwrap());
        header(&r, T_IN, 0);
        // Most of it lies outside the rig's 2 MiB of guest memory.
        r.submit(
            0,
            &[
                (0x4000, 16, 0),
                (0x8000, 0xffff_fe00, WRITE),
                (0x4010, 1, WRITE),
            ],
        );
        assert_eq!(r.used_idx(0), 1);
        assert_eq!(status(&r), S_IOERR);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn read_write_flush_and_id_round_trip() {
        let (mut r, path) = rig("rw", false);
        header(&r, T_IN, 1);
        r.submit(
            0,
            &[(0x4000, 16, 0), (0x5000, 512, WRITE), (0x4010, 1, WRITE)],
        );
        assert_eq!((status(&r), r.used_idx(0)), (S_OK, 1));
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
        header(&r, T_OUT, 3);
        r.submit(0, &[(0x4000, 16, 0), (0x6000, 512, 0), (0x4010, 1, WRITE)]);
        assert_eq!(status(&r), S_OK);
        header(&r, T_FLUSH, 0);
        r.submit(0, &[(0x4000, 16, 0), (0x4010, 1, WRITE)]);
        assert_eq!(status(&r), S_OK);
        let img = std::fs::read(&path).unwrap();
        assert_eq!(&img[3 * 512..3 * 512 + 14], b"HOST SEES THIS");
        header(&r, T_GET_ID, 0);
        r.submit(
            0,
            &[(0x4000, 16, 0), (0x7000, 20, WRITE), (0x4010, 1, WRITE)],
        );
        let mut id = [0u8; 4];
        r.mem.read_slice(&mut id, GuestAddress(0x7000)).unwrap();
        assert_eq!((status(&r), &id), (S_OK, b"test"));
        let mut cap = [0u8; 8];
        r.t.read(0x100, &mut cap);
        assert_eq!(u64::from_le_bytes(cap), 64);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn malformed_requests_fail_without_harm() {
        let (mut r, path) = rig("bad", true);
        // Beyond the end of the disk.
        header(&r, T_IN, 64);
        r.submit(
            0,
            &[(0x4000, 16, 0), (0x5000, 512, WRITE), (0x4010, 1, WRITE)],
        );
        assert_eq!(status(&r), S_IOERR);
        // A write to a read-only disk.
        header(&r, T_OUT, 0);
        r.submit(0, &[(0x4000, 16, 0), (0x5000, 512, 0), (0x4010, 1, WRITE)]);
        assert_eq!(status(&r), S_IOERR);
        // Data outside guest memory.
        header(&r, T_IN, 0);
        r.submit(
            0,
            &[
                (0x4000, 16, 0),
                (u64::MAX - 100, 512, WRITE),
                (0x4010, 1, WRITE),
            ],
        );
        assert_ne!(status(&r), S_OK);
        // A partial sector, a read-only status byte, an unknown request.
        header(&r, T_IN, 0);
        r.submit(
            0,
            &[(0x4000, 16, 0), (0x5000, 100, WRITE), (0x4010, 1, WRITE)],
        );
        assert_eq!(status(&r), S_IOERR);
        header(&r, T_IN, 0);
        r.submit(0, &[(0x4000, 16, 0), (0x5000, 512, WRITE), (0x4010, 1, 0)]);
        assert_eq!(
            status(&r),
            0xff,
            "no status written through a read-only descriptor"
        );
        header(&r, 99, 0);
        r.submit(0, &[(0x4000, 16, 0), (0x4010, 1, WRITE)]);
        assert_eq!(status(&r), S_UNSUPP);
        // A descriptor loop: descriptor 0 points at itself.
        header(&r, T_IN, 0);
        r.mem.write_obj(0x4000u64, GuestAddress(desc(0))).unwrap();
        r.mem.write_obj(16u32, GuestAddress(desc(0) + 8)).unwrap();
        r.mem.write_obj(NEXT, GuestAddress(desc(0) + 12)).unwrap();
        r.mem.write_obj(0u16, GuestAddress(desc(0) + 14)).unwrap();
        r.offer_head(0, 0);
        r.t.write(0x050, &0u32.to_le_bytes());
        assert_eq!(
            r.used_idx(0),
            r.avail_idx(0),
            "every chain, even a bad one, is returned"
        );
        // Notifying a queue that does not exist is ignored.
        r.t.write(0x050, &7u32.to_le_bytes());
        let _ = std::fs::remove_file(&path);
    }
}
