//! On-disk layout. Block 0 is XN's superblock (`sys_root`); then the free map (one bit
//! per block, 1 = allocated); then the root catalogue; then blocks libFSes allocate.
//!
//! ```text
//! | 0: super | 1..1+F: free map | C blocks: root catalogue | data ... |
//! ```

use crate::error::Error;
use crate::{Block, Db, BLOCK_SIZE};

pub const MAGIC: &[u8; 8] = b"EXOXN001";
pub const VERSION: u32 = 1;
/// Root catalogue size in blocks (64 entries each).
pub const CATALOGUE_BLOCKS: u64 = 2;
/// Bits of free map per block.
pub const BITS_PER_BLOCK: u64 = (BLOCK_SIZE * 8) as u64;
/// Smallest disk worth formatting.
pub const MIN_BLOCKS: u64 = 16;
/// Largest disk (block numbers stay below 2^32 so UDFs can use 32-bit immediates freely).
pub const MAX_BLOCKS: u64 = 1 << 32;

const FLAG_CLEAN: u32 = 1;

/// The superblock: where XN's per-device bookkeeping lives (`sys_xn_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub nblocks: u64,
    pub freemap_start: Db,
    pub freemap_blocks: u64,
    pub cat_start: Db,
    pub cat_blocks: u64,
    /// First block libFSes may allocate.
    pub data_start: Db,
    /// Set by a clean shutdown, cleared while mounted: unset means reconstruct.
    pub clean: bool,
}

/// FNV-1a: cheap, deterministic, enough to tell a corrupted header from a valid one.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn get_u64(b: &[u8], o: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(v)
}

pub(crate) fn get_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl Superblock {
    /// The layout for a disk of `nblocks`.
    pub fn for_disk(nblocks: u64) -> Result<Superblock, Error> {
        if !(MIN_BLOCKS..=MAX_BLOCKS).contains(&nblocks) {
            return Err(Error::BadImage("disk size out of range (64 KiB to 16 TiB)"));
        }
        let freemap_blocks = nblocks.div_ceil(BITS_PER_BLOCK);
        let cat_start = 1 + freemap_blocks;
        Ok(Superblock {
            nblocks,
            freemap_start: 1,
            freemap_blocks,
            cat_start,
            cat_blocks: CATALOGUE_BLOCKS,
            data_start: cat_start + CATALOGUE_BLOCKS,
            clean: true,
        })
    }

    pub fn encode(&self) -> Block {
        let mut b = [0u8; BLOCK_SIZE];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(if self.clean { FLAG_CLEAN } else { 0 }).to_le_bytes());
        for (i, v) in [
            self.nblocks,
            self.freemap_start,
            self.freemap_blocks,
            self.cat_start,
            self.cat_blocks,
            self.data_start,
        ]
        .iter()
        .enumerate()
        {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let c = checksum(&b[..64]);
        b[64..72].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Decode and sanity-check block 0 of a disk of `disk_blocks` blocks.
    pub fn decode(b: &Block, disk_blocks: u64) -> Result<Superblock, Error> {
        if &b[..8] != MAGIC {
            return Err(Error::BadImage("wrong magic (not an XN disk)"));
        }
        if get_u32(b, 8) != VERSION {
            return Err(Error::BadImage("unsupported XN version"));
        }
        if get_u64(b, 64) != checksum(&b[..64]) {
            return Err(Error::BadImage("superblock checksum mismatch"));
        }
        let sb = Superblock {
            clean: get_u32(b, 12) & FLAG_CLEAN != 0,
            nblocks: get_u64(b, 16),
            freemap_start: get_u64(b, 24),
            freemap_blocks: get_u64(b, 32),
            cat_start: get_u64(b, 40),
            cat_blocks: get_u64(b, 48),
            data_start: get_u64(b, 56),
        };
        let expect = Superblock::for_disk(sb.nblocks)
            .map_err(|_| Error::BadImage("superblock: bad disk size"))?;
        if (Superblock {
            clean: sb.clean,
            ..expect
        }) != sb
        {
            return Err(Error::BadImage("superblock: inconsistent layout"));
        }
        if sb.nblocks > disk_blocks {
            return Err(Error::BadImage(
                "image truncated: shorter than the superblock says",
            ));
        }
        Ok(sb)
    }
}
