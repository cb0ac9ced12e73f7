//! The C-FFS on-disk layout (little-endian). Inodes live inside directory
//! entries, so opening a small file costs one directory block and its data.
//!
//! ```text
//! dir block   0 owner cap u64 | 8 mode u32 | 12 magic u32 | 64 + 128 i: entry i (i < 31)
//! entry       0 name [40] | 40 kind u8 | 41 name length u8 | 42 generation u16
//!             44 mode u32 | 48 size u64 | 56 + 8 j: direct pointer j (j < 8)
//!             120 indirect pointer
//! indirect    0 owner cap u64 | 8 mode u32 | 12 magic u32 | 64 + 8 j: pointer j (j < 504)
//! ```
//!
//! A file's pointers name data blocks and a `cffs.ind2` block (double
//! indirect) of pointers to `cffs.ind` blocks of data pointers, so a file
//! maps 8 + 504 * 504 blocks (almost 1 GiB); a directory's name its content
//! blocks (`cffs.dir`) and a `cffs.dind` block of content-block pointers. The root catalogue entry is
//! one `cffs.dir` block, the *super block*, whose entry 0 is the root
//! directory's inode. Only the pointers, and the kind byte of an entry that
//! has pointers, are read by the owns-udf: names, sizes, modes and headers
//! change with plain `writeb`.

use super::super::FsError;
use alloc::string::String;
use exo_xn::{Db, BLOCK_SIZE};

pub const DIR_TYPE: &str = "cffs.dir";
pub const IND_TYPE: &str = "cffs.ind";
pub const DIND_TYPE: &str = "cffs.dind";
pub const IND2_TYPE: &str = "cffs.ind2";

pub const HEADER: usize = 64;
pub const MAGIC_DIR: u32 = 0xcff5_d1e0;
pub const MAGIC_IND: u32 = 0xcff5_1d00;
pub const ENTRY_SIZE: usize = 128;
pub const ENTRIES: u32 = 31;
pub const NAME_MAX: usize = 40;
pub const DIRECT: usize = 8;
/// Pointer slots per entry: the direct ones, then the indirect one.
pub const SLOTS: usize = DIRECT + 1;
pub const PTRS_PER_IND: usize = (BLOCK_SIZE - HEADER) / 8;
/// Logical blocks a directory can map (one level of indirection).
pub const MAX_DIR_BLOCKS: usize = DIRECT + PTRS_PER_IND;
/// Logical blocks a file can map (two levels of indirection).
pub const MAX_FILE_BLOCKS: usize = DIRECT + PTRS_PER_IND * PTRS_PER_IND;
pub const MAX_FILE: u64 = (MAX_FILE_BLOCKS * BLOCK_SIZE) as u64;

pub const OFF_KIND: usize = 40;
pub const OFF_NLEN: usize = 41;
pub const OFF_GEN: usize = 42;
pub const OFF_MODE: usize = 44;
pub const OFF_SIZE: usize = 48;
pub const OFF_PTRS: usize = 56;
pub const OFF_IND: usize = OFF_PTRS + 8 * DIRECT;

pub const KIND_FILE: u8 = 1;
pub const KIND_DIR: u8 = 2;
/// Mode bit: anyone may read.
pub const MODE_PUBLIC: u32 = 1;

/// Byte offset of entry `slot` in a directory block.
pub fn entry_off(slot: u32) -> usize {
    HEADER + ENTRY_SIZE * slot as usize
}

/// The entry named `name` in directory block `b`, and its slot: names are
/// compared where they lie, and only the match is decoded.
pub fn find_name(b: &[u8], name: &str) -> Result<Option<(u32, Inode)>, FsError> {
    for slot in 0..ENTRIES {
        let off = entry_off(slot);
        let e = b
            .get(off..off + ENTRY_SIZE)
            .ok_or(FsError::Corrupt("short directory block"))?;
        if e[OFF_KIND] != 0
            && e[OFF_NLEN] as usize == name.len()
            && &e[..name.len()] == name.as_bytes()
        {
            return Ok(Inode::decode(e)?.map(|i| (slot, i)));
        }
    }
    Ok(None)
}

/// A block header: owner capability, mode, magic.
pub fn header(owner: u64, mode: u32, magic: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&owner.to_le_bytes());
    h[8..12].copy_from_slice(&mode.to_le_bytes());
    h[12..16].copy_from_slice(&magic.to_le_bytes());
    h
}

pub fn get_u64(b: &[u8], o: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(v)
}

pub fn get_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// A decoded directory entry: the embedded inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    pub kind: Kind,
    pub name: String,
    pub gen: u16,
    pub mode: u32,
    pub size: u64,
    /// Direct pointers, then the indirect pointer (0: none).
    pub ptrs: [Db; SLOTS],
}

impl Inode {
    /// Decode entry bytes; `None` for a free entry. A hostile or corrupted
    /// entry decodes to something bounded, or to an error.
    pub fn decode(e: &[u8]) -> Result<Option<Inode>, FsError> {
        let kind = match e[OFF_KIND] {
            0 => return Ok(None),
            KIND_FILE => Kind::File,
            KIND_DIR => Kind::Dir,
            _ => return Err(FsError::Corrupt("bad entry kind")),
        };
        let nlen = e[OFF_NLEN] as usize;
        if nlen == 0 || nlen > NAME_MAX {
            return Err(FsError::Corrupt("bad name length"));
        }
        let name = core::str::from_utf8(&e[..nlen])
            .map_err(|_| FsError::Corrupt("name is not UTF-8"))?
            .into();
        let mut ptrs = [0; SLOTS];
        for (j, p) in ptrs.iter_mut().enumerate() {
            *p = get_u64(e, OFF_PTRS + 8 * j);
        }
        Ok(Some(Inode {
            kind,
            name,
            gen: u16::from_le_bytes([e[OFF_GEN], e[OFF_GEN + 1]]),
            mode: get_u32(e, OFF_MODE),
            size: get_u64(e, OFF_SIZE),
            ptrs,
        }))
    }

    /// The entry's bytes before its pointers (everything `writeb` may set).
    pub fn encode_head(&self) -> [u8; OFF_PTRS] {
        let mut b = [0u8; OFF_PTRS];
        b[..self.name.len()].copy_from_slice(self.name.as_bytes());
        b[OFF_KIND] = match self.kind {
            Kind::File => KIND_FILE,
            Kind::Dir => KIND_DIR,
        };
        b[OFF_NLEN] = self.name.len() as u8;
        b[OFF_GEN..OFF_GEN + 2].copy_from_slice(&self.gen.to_le_bytes());
        b[OFF_MODE..OFF_MODE + 4].copy_from_slice(&self.mode.to_le_bytes());
        b[OFF_SIZE..OFF_SIZE + 8].copy_from_slice(&self.size.to_le_bytes());
        b
    }

    pub fn is_empty(&self) -> bool {
        self.ptrs.iter().all(|&p| p == 0)
    }
}

/// Check a name for a directory entry.
pub fn check_name(name: &str) -> Result<(), FsError> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(FsError::InvalidName);
    }
    Ok(())
}
