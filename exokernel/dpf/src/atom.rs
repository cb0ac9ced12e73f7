//! The filter language: atoms over a packet's bytes. A filter is a conjunction of atoms;
//! there are no loops, variables or branches, so overlap between two filters can be
//! decided by comparing their atoms (thesis §6.1.1: declarative for that reason).

use core::fmt;

/// Packets longer than this are never classified, and no atom may reach past it.
pub const MAX_PACKET: usize = 2048;
/// Atoms in one filter (before canonicalisation removes duplicates).
pub const MAX_ATOMS: usize = 16;
/// Indirections in one filter: each needs a JIT register for its base.
pub const MAX_SHIFTS: usize = 3;

/// `width` bytes at `offset` from the current base, read big-endian (network order) and
/// ANDed with `mask`. Raw fields are `u32` so the verifier, not the parser, judges them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Field {
    pub offset: u32,
    pub width: u32,
    pub mask: u32,
}

/// Indirection for variable-length headers: `base += add + (byte[base + offset] & mask) * scale`.
/// Later atoms are relative to the new base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shift {
    pub offset: u32,
    pub mask: u32,
    pub scale: u32,
    pub add: u32,
}

impl Shift {
    /// Ethernet + IPv4 header length: the base moves to the transport header.
    pub const IP_HL: Shift = Shift {
        offset: 14,
        mask: 0x0f,
        scale: 4,
        add: 14,
    };
}

/// One test of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// `field == value`.
    Eq { field: Field, value: u32 },
    /// Move the base (see [`Shift`]).
    Shift(Shift),
}

impl Atom {
    /// `offset:width=value` with the full mask.
    pub const fn eq(offset: u32, width: u32, value: u32) -> Atom {
        Atom::Eq {
            field: Field {
                offset,
                width,
                mask: full_mask(width),
            },
            value,
        }
    }
}

/// The mask that keeps every bit of a `width`-byte field (0 for a bad width).
pub const fn full_mask(width: u32) -> u32 {
    match width {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => 0,
    }
}

impl Field {
    /// The masked big-endian value at `base + offset`, or `None` if the packet is too short.
    #[inline]
    pub fn load(&self, pkt: &[u8], base: usize) -> Option<u32> {
        let start = base + self.offset as usize;
        let bytes = pkt.get(start..start + self.width as usize)?;
        let v = bytes.iter().fold(0u32, |v, &b| (v << 8) | b as u32);
        Some(v & self.mask)
    }

    /// `(offset, mask byte, value byte)` for each byte this field constrains to `value`.
    pub fn bytes(&self, value: u32) -> impl Iterator<Item = (u32, u8, u8)> + '_ {
        let w = self.width;
        (0..w).filter_map(move |i| {
            let sh = 8 * (w - 1 - i);
            let m = (self.mask >> sh) as u8;
            (m != 0).then_some((self.offset + i, m, (value >> sh) as u8 & m))
        })
    }
}

impl Shift {
    /// The new base, or `None` if the byte it reads is past the packet.
    #[inline]
    pub fn apply(&self, pkt: &[u8], base: usize) -> Option<usize> {
        let b = *pkt.get(base + self.offset as usize)? as u32;
        Some(base + self.add as usize + ((b & self.mask) * self.scale) as usize)
    }
}

/// The filter-file syntax (see the crate README): `12:2=0x800`, `14:1&0xf0=0x40`,
/// `@14&0xf*4+14` (printed as `ip_hl`).
impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Eq { field, value } => {
                write!(f, "{}:{}", field.offset, field.width)?;
                if field.mask != full_mask(field.width) {
                    write!(f, "&{:#x}", field.mask)?;
                }
                write!(f, "={value:#x}")
            }
            Atom::Shift(s) if *s == Shift::IP_HL => f.write_str("ip_hl"),
            Atom::Shift(s) => write!(f, "@{}&{:#x}*{}+{}", s.offset, s.mask, s.scale, s.add),
        }
    }
}
