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

impl WkTerm {
    /// The empty term (fills unused slots).
    pub const NONE: WkTerm = WkTerm {
        kind: TERM_MEM,
        width: 0,
        cmp: 0,
        _pad: [0; 5],
        addr: 0,
        mask: 0,
        value: 0,
    };
    /// Separates products: the predicate holds if any product does.
    pub const OR: WkTerm = WkTerm {
        kind: TERM_OR,
        ..WkTerm::NONE
    };

    /// `(*addr & mask) CMP value` on `width` bytes of user-visible memory.
    pub const fn mem(addr: u64, width: u8, cmp: u8, value: u64) -> WkTerm {
        WkTerm {
            kind: TERM_MEM,
            width,
            cmp,
            addr,
            mask: u64::MAX,
            value,
            ..WkTerm::NONE
        }
    }

    /// `ticks CMP value`.
    pub const fn ticks(cmp: u8, value: u64) -> WkTerm {
        WkTerm {
            kind: TERM_TICKS,
            cmp,
            value,
            ..WkTerm::NONE
        }
    }
}
