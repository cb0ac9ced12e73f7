//! The flat store's one metadata block (little-endian):
//!
//! ```text
//! table   0 owner cap u64 | 8 mode u32 | 12 magic u32 | 64 + 64 i: record i (i < 63)
//! record  0 name [40] (NUL-padded) | 40 length u64 | 48 first block u64 | 56 blocks u64
//! ```
//!
//! A record's data is one extent of consecutive raw blocks. The owns-udf
//! reads only `blocks` and, when it is non-zero, `first block`.

pub const TABLE_TYPE: &str = "flat.table";
pub const HEADER: usize = 64;
pub const MAGIC: u32 = 0xf1a7_7ab1;
pub const RECORD_SIZE: usize = 64;
pub const RECORDS: u32 = 63;
pub const NAME_MAX: usize = 40;
pub const OFF_LEN: usize = 40;
pub const OFF_START: usize = 48;
pub const OFF_NBLOCKS: usize = 56;
/// Largest extent one owns-udf emit may name (XN's MAX_EMIT_BLOCKS).
pub const MAX_EXTENT: u64 = 4096;

pub fn record_off(i: u32) -> usize {
    HEADER + RECORD_SIZE * i as usize
}
