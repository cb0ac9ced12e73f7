//! The free map: one bit per block, 1 = allocated. Exposed read-only so a libFS can
//! choose its own layout (`sys_xn_findfree` is only a convenience). Persisted at clean
//! shutdown; after a crash reconstruction rebuilds it from the roots.

use crate::disk::Disk;
use crate::error::Error;
use crate::layout::{Superblock, BITS_PER_BLOCK};
use crate::{Db, BLOCK_SIZE};
use alloc::vec;
use alloc::vec::Vec;

#[derive(Clone, PartialEq, Eq)]
pub struct FreeMap {
    bits: Vec<u64>,
    nblocks: u64,
}

impl core::fmt::Debug for FreeMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "FreeMap({} of {} allocated)",
            self.allocated_count(),
            self.nblocks
        )
    }
}

impl FreeMap {
    /// All free.
    pub fn new(nblocks: u64) -> FreeMap {
        FreeMap {
            bits: vec![0; nblocks.div_ceil(64) as usize],
            nblocks,
        }
    }

    /// A fresh map with XN's own blocks allocated.
    pub fn formatted(sb: &Superblock) -> FreeMap {
        let mut m = FreeMap::new(sb.nblocks);
        for b in 0..sb.data_start {
            m.set(b, true);
        }
        m
    }

    pub fn nblocks(&self) -> u64 {
        self.nblocks
    }

    pub fn is_free(&self, b: Db) -> bool {
        b < self.nblocks && self.bits[(b / 64) as usize] & (1 << (b % 64)) == 0
    }

    pub fn set(&mut self, b: Db, allocated: bool) {
        if b < self.nblocks {
            let w = &mut self.bits[(b / 64) as usize];
            if allocated {
                *w |= 1 << (b % 64);
            } else {
                *w &= !(1 << (b % 64));
            }
        }
    }

    pub fn extent_free(&self, db: Db, n: u64) -> bool {
        db.checked_add(n).is_some_and(|e| e <= self.nblocks)
            && (db..db + n).all(|b| self.is_free(b))
    }

    pub fn allocated_count(&self) -> u64 {
        self.bits.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// First free extent of `n` blocks at or after `hint` (wrapping once).
    pub fn find_free(&self, hint: Db, n: u64) -> Option<Db> {
        if n == 0 || n > self.nblocks {
            return None;
        }
        let hint = if hint >= self.nblocks { 0 } else { hint };
        let scan = |from: Db, to: Db| {
            let mut run = 0;
            for b in from..to {
                if self.is_free(b) {
                    run += 1;
                    if run == n {
                        return Some(b + 1 - n);
                    }
                } else {
                    run = 0;
                }
            }
            None
        };
        scan(hint, self.nblocks).or_else(|| scan(0, (hint + n).min(self.nblocks)))
    }

    /// Iterate over allocated block numbers.
    pub fn allocated(&self) -> impl Iterator<Item = Db> + '_ {
        (0..self.nblocks).filter(move |&b| !self.is_free(b))
    }

    pub fn load<D: Disk>(disk: &mut D, sb: &Superblock) -> Result<FreeMap, Error> {
        let mut m = FreeMap::new(sb.nblocks);
        let mut buf = [0u8; BLOCK_SIZE];
        for i in 0..sb.freemap_blocks {
            disk.read(sb.freemap_start + i, &mut buf)?;
            let first = (i * BITS_PER_BLOCK / 64) as usize;
            for (j, c) in buf.chunks_exact(8).enumerate() {
                if let Some(w) = m.bits.get_mut(first + j) {
                    let mut v = [0u8; 8];
                    v.copy_from_slice(c);
                    *w = u64::from_le_bytes(v);
                }
            }
        }
        // Bits past the end of the disk are meaningless; XN's own blocks must be allocated.
        if (0..sb.data_start).any(|b| m.is_free(b)) {
            return Err(Error::BadImage("free map marks XN's own blocks free"));
        }
        Ok(m)
    }

    pub fn store<D: Disk>(&self, disk: &mut D, sb: &Superblock) -> Result<(), Error> {
        for i in 0..sb.freemap_blocks {
            let mut buf = [0u8; BLOCK_SIZE];
            let first = (i * BITS_PER_BLOCK / 64) as usize;
            for (j, c) in buf.chunks_exact_mut(8).enumerate() {
                if let Some(w) = self.bits.get(first + j) {
                    c.copy_from_slice(&w.to_le_bytes());
                }
            }
            disk.write(sb.freemap_start + i, &buf)?;
        }
        Ok(())
    }
}
