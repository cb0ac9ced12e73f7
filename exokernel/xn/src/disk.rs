//! The block device XN multiplexes. The kernel implements [`Disk`] over virtio-blk, the
//! host tools over an image file, tests over [`MemDisk`].

use crate::{Block, Db, BLOCK_SIZE};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// Block number past the end of the device.
    OutOfRange(Db),
    /// The device failed (or, in tests, "crashed").
    Io,
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::OutOfRange(b) => write!(f, "block {b} is past the end of the disk"),
            DiskError::Io => write!(f, "I/O error"),
        }
    }
}

/// A disk of `nblocks()` blocks of [`BLOCK_SIZE`] bytes. Writes are assumed atomic per
/// block (what XN's ordering rules need, and what disks give for a sector-aligned page
/// in practice; a torn write shows up as a violation in reconstruction).
pub trait Disk {
    fn nblocks(&self) -> u64;
    fn read(&mut self, db: Db, buf: &mut Block) -> Result<(), DiskError>;
    fn write(&mut self, db: Db, buf: &Block) -> Result<(), DiskError>;
    /// Make completed writes durable.
    fn flush(&mut self) -> Result<(), DiskError> {
        Ok(())
    }
}

impl<T: Disk + ?Sized> Disk for &mut T {
    fn nblocks(&self) -> u64 {
        (**self).nblocks()
    }
    fn read(&mut self, db: Db, buf: &mut Block) -> Result<(), DiskError> {
        (**self).read(db, buf)
    }
    fn write(&mut self, db: Db, buf: &Block) -> Result<(), DiskError> {
        (**self).write(db, buf)
    }
    fn flush(&mut self) -> Result<(), DiskError> {
        (**self).flush()
    }
}

/// An in-memory disk. `fail_after` simulates a crash: after that many more writes every
/// write fails and is lost, as if power went out (crash-recovery tests).
pub struct MemDisk {
    data: Vec<u8>,
    writes_left: Option<u64>,
    /// Number of writes performed so far.
    pub writes: u64,
}

impl MemDisk {
    pub fn new(nblocks: u64) -> MemDisk {
        MemDisk {
            data: vec![0; nblocks as usize * BLOCK_SIZE],
            writes_left: None,
            writes: 0,
        }
    }

    /// A disk holding `bytes` (an image); trailing partial blocks are ignored.
    pub fn from_bytes(bytes: Vec<u8>) -> MemDisk {
        let mut data = bytes;
        data.truncate(data.len() / BLOCK_SIZE * BLOCK_SIZE);
        MemDisk {
            data,
            writes_left: None,
            writes: 0,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// After `n` more successful writes, all writes fail (None: never).
    pub fn fail_after(&mut self, n: Option<u64>) {
        self.writes_left = n;
    }

    fn range(&self, db: Db) -> Result<core::ops::Range<usize>, DiskError> {
        if db >= self.nblocks() {
            return Err(DiskError::OutOfRange(db));
        }
        let s = db as usize * BLOCK_SIZE;
        Ok(s..s + BLOCK_SIZE)
    }
}

impl Disk for MemDisk {
    fn nblocks(&self) -> u64 {
        (self.data.len() / BLOCK_SIZE) as u64
    }
    fn read(&mut self, db: Db, buf: &mut Block) -> Result<(), DiskError> {
        let r = self.range(db)?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }
    fn write(&mut self, db: Db, buf: &Block) -> Result<(), DiskError> {
        let r = self.range(db)?;
        if let Some(n) = self.writes_left.as_mut() {
            if *n == 0 {
                return Err(DiskError::Io);
            }
            *n -= 1;
        }
        self.data[r].copy_from_slice(buf);
        self.writes += 1;
        Ok(())
    }
}
