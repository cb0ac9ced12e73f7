//! Wakeup predicates: a sum of products of comparisons on the environment's
//! own memory (and the clock), verified by the kernel and evaluated by the
//! scheduler to decide whether a sleeping environment may run.

/// Compare `width` bytes at user address `addr`, masked, with `value`.
pub const TERM_MEM: u8 = 0;
/// Compare the tick count with `value`.
pub const TERM_TICKS: u8 = 1;
/// Ends one product (conjunction): the predicate is true if any product is.
pub const TERM_OR: u8 = 2;

pub const CMP_EQ: u8 = 0;
pub const CMP_NE: u8 = 1;
pub const CMP_LT: u8 = 2;
pub const CMP_LE: u8 = 3;
pub const CMP_GT: u8 = 4;
pub const CMP_GE: u8 = 5;

/// Most terms in a predicate.
pub const MAX_TERMS: usize = 16;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WkTerm {
    pub kind: u8,
    /// 1, 2, 4 or 8 bytes (TERM_MEM).
    pub width: u8,
    pub cmp: u8,
    pub _pad: [u8; 5],
    pub addr: u64,
    pub mask: u64,
    pub value: u64,
}
