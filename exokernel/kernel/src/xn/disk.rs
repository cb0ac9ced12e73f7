//! XN's disk: 4 KiB blocks over the virtio-blk driver (8 sectors each).

use crate::drivers::virtio_blk::{BlkError, BLK};
use exo_xn::{Block, Db, Disk, DiskError};

pub struct BlkDisk {
    nblocks: u64,
}

impl BlkDisk {
    /// The disk, if there is one.
    pub fn new() -> Option<BlkDisk> {
        let sectors = BLK.lock().as_ref()?.capacity;
        Some(BlkDisk {
            nblocks: sectors / 8,
        })
    }
}

fn io(db: Db, e: BlkError) -> DiskError {
    match e {
        BlkError::Range => DiskError::OutOfRange(db),
        _ => DiskError::Io,
    }
}

impl Disk for BlkDisk {
    fn nblocks(&self) -> u64 {
        self.nblocks
    }

    fn read(&mut self, db: Db, buf: &mut Block) -> Result<(), DiskError> {
        let mut g = BLK.lock();
        let blk = g.as_mut().ok_or(DiskError::Io)?;
        let data = blk.read(db * 8, 4096).map_err(|e| io(db, e))?;
        buf.copy_from_slice(data);
        Ok(())
    }

    fn write(&mut self, db: Db, buf: &Block) -> Result<(), DiskError> {
        let mut g = BLK.lock();
        let blk = g.as_mut().ok_or(DiskError::Io)?;
        blk.write(db * 8, buf).map_err(|e| io(db, e))
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        let mut g = BLK.lock();
        g.as_mut()
            .ok_or(DiskError::Io)?
            .flush()
            .map_err(|e| io(0, e))
    }
}
