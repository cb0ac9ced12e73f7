//! The verifier: turns untrusted atoms into a canonical [`Filter`] or says what is wrong.
//!
//! Canonical form: the atoms between two indirections (a *segment*) are sorted by field and
//! deduplicated, so filters that test the same things in a different order merge into the
//! same trie path. Contradictory atoms are refused: such a filter could never match.

use crate::atom::{full_mask, Atom, Field, Shift, MAX_ATOMS, MAX_PACKET, MAX_SHIFTS};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

/// Why a filter was refused. `atom` fields are 0-based positions in the submitted list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterError {
    Empty,
    TooManyAtoms { count: usize, max: usize },
    TooManyShifts { count: usize, max: usize },
    BadWidth { atom: usize, width: u32 },
    ZeroMask { atom: usize },
    MaskWiderThanWidth { atom: usize, mask: u32, width: u32 },
    ValueOutsideMask { atom: usize, value: u32, mask: u32 },
    OffsetOutOfRange { atom: usize, end: u64, max: usize },
    BadScale { atom: usize, scale: u32 },
    ShiftMaskTooWide { atom: usize, mask: u32 },
    TrailingShift { atom: usize },
    Contradiction { first: usize, second: usize },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FilterError::*;
        match *self {
            Empty => write!(f, "filter has no atoms (it would claim every packet)"),
            TooManyAtoms { count, max } => write!(f, "{count} atoms, at most {max} allowed"),
            TooManyShifts { count, max } => {
                write!(f, "{count} indirections, at most {max} allowed")
            }
            BadWidth { atom, width } => {
                write!(
                    f,
                    "atom {}: width {width} (must be 1, 2 or 4 bytes)",
                    atom + 1
                )
            }
            ZeroMask { atom } => write!(f, "atom {}: mask is zero (tests nothing)", atom + 1),
            MaskWiderThanWidth { atom, mask, width } => write!(
                f,
                "atom {}: mask {mask:#x} is wider than {width} byte(s)",
                atom + 1
            ),
            ValueOutsideMask { atom, value, mask } => write!(
                f,
                "atom {}: value {value:#x} has bits outside mask {mask:#x} (never matches)",
                atom + 1
            ),
            OffsetOutOfRange { atom, end, max } => write!(
                f,
                "atom {}: reaches byte {end}, past the maximum packet size {max}",
                atom + 1
            ),
            BadScale { atom, scale } => {
                write!(f, "atom {}: scale {scale} (must be 1, 2, 4 or 8)", atom + 1)
            }
            ShiftMaskTooWide { atom, mask } => write!(
                f,
                "atom {}: indirection mask {mask:#x} is wider than one byte",
                atom + 1
            ),
            TrailingShift { atom } => {
                write!(f, "atom {}: indirection with no test after it", atom + 1)
            }
            Contradiction { first, second } => write!(
                f,
                "atoms {} and {} contradict each other (the filter never matches)",
                first + 1,
                second + 1
            ),
        }
    }
}

/// Per-byte constraints of one segment: offset -> (mask, value). Equality atoms on the same
/// bytes with different masks meet here, which is what overlap detection compares.
pub type ByteSet = BTreeMap<u32, (u8, u8)>;

/// A verified filter in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    atoms: Vec<Atom>,
    shifts: Vec<Shift>,
    segments: Vec<ByteSet>,
}

impl Filter {
    /// Verify `atoms` and bring them into canonical form.
    pub fn new(atoms: &[Atom]) -> Result<Filter, FilterError> {
        if atoms.is_empty() {
            return Err(FilterError::Empty);
        }
        if atoms.len() > MAX_ATOMS {
            return Err(FilterError::TooManyAtoms {
                count: atoms.len(),
                max: MAX_ATOMS,
            });
        }
        let nshifts = atoms.iter().filter(|a| matches!(a, Atom::Shift(_))).count();
        if nshifts > MAX_SHIFTS {
            return Err(FilterError::TooManyShifts {
                count: nshifts,
                max: MAX_SHIFTS,
            });
        }
        // (field, value, position) per segment, in submission order.
        let mut segs: Vec<Vec<(Field, u32, usize)>> = alloc::vec![Vec::new()];
        let mut shifts = Vec::new();
        let mut last_shift = 0;
        for (i, a) in atoms.iter().enumerate() {
            match *a {
                Atom::Eq { field, value } => {
                    check_eq(i, field, value)?;
                    if let Some(seg) = segs.last_mut() {
                        seg.push((field, value, i));
                    }
                }
                Atom::Shift(s) => {
                    check_shift(i, s)?;
                    shifts.push(s);
                    segs.push(Vec::new());
                    last_shift = i;
                }
            }
        }
        if segs.last().is_some_and(|s| s.is_empty()) && !shifts.is_empty() {
            return Err(FilterError::TrailingShift { atom: last_shift });
        }
        let mut out = Vec::with_capacity(atoms.len());
        let mut segments = Vec::with_capacity(segs.len());
        for (k, mut seg) in segs.into_iter().enumerate() {
            segments.push(byte_set(&seg)?);
            seg.sort_by_key(|&(f, v, _)| (f, v));
            seg.dedup_by_key(|&mut (f, v, _)| (f, v));
            if k > 0 {
                out.push(Atom::Shift(shifts[k - 1]));
            }
            out.extend(
                seg.iter()
                    .map(|&(field, value, _)| Atom::Eq { field, value }),
            );
        }
        Ok(Filter {
            atoms: out,
            shifts,
            segments,
        })
    }

    /// The canonical atoms: segment 0 sorted, then each indirection and its segment.
    pub fn atoms(&self) -> &[Atom] {
        &self.atoms
    }

    /// How specific the filter is: its number of canonical atoms. See [`crate::classify`].
    pub fn priority(&self) -> usize {
        self.atoms.len()
    }

    pub(crate) fn shifts(&self) -> &[Shift] {
        &self.shifts
    }

    pub(crate) fn segments(&self) -> &[ByteSet] {
        &self.segments
    }
}

fn check_eq(atom: usize, field: Field, value: u32) -> Result<(), FilterError> {
    let full = full_mask(field.width);
    if full == 0 {
        return Err(FilterError::BadWidth {
            atom,
            width: field.width,
        });
    }
    if field.mask == 0 {
        return Err(FilterError::ZeroMask { atom });
    }
    if field.mask & !full != 0 {
        return Err(FilterError::MaskWiderThanWidth {
            atom,
            mask: field.mask,
            width: field.width,
        });
    }
    if value & !field.mask != 0 {
        return Err(FilterError::ValueOutsideMask {
            atom,
            value,
            mask: field.mask,
        });
    }
    check_end(atom, field.offset as u64 + field.width as u64)
}

fn check_shift(atom: usize, s: Shift) -> Result<(), FilterError> {
    if !matches!(s.scale, 1 | 2 | 4 | 8) {
        return Err(FilterError::BadScale {
            atom,
            scale: s.scale,
        });
    }
    if s.mask == 0 {
        return Err(FilterError::ZeroMask { atom });
    }
    if s.mask > 0xff {
        return Err(FilterError::ShiftMaskTooWide { atom, mask: s.mask });
    }
    check_end(atom, s.offset as u64 + 1)?;
    check_end(atom, s.add as u64)
}

fn check_end(atom: usize, end: u64) -> Result<(), FilterError> {
    if end > MAX_PACKET as u64 {
        return Err(FilterError::OffsetOutOfRange {
            atom,
            end,
            max: MAX_PACKET,
        });
    }
    Ok(())
}

/// The segment's byte constraints; two atoms demanding different bits contradict.
fn byte_set(seg: &[(Field, u32, usize)]) -> Result<ByteSet, FilterError> {
    let mut set = ByteSet::new();
    let mut who: BTreeMap<u32, usize> = BTreeMap::new();
    for &(field, value, i) in seg {
        for (off, m, v) in field.bytes(value) {
            let (om, ov) = set.get(&off).copied().unwrap_or((0, 0));
            if om & m & (ov ^ v) != 0 {
                return Err(FilterError::Contradiction {
                    first: who.get(&off).copied().unwrap_or(i),
                    second: i,
                });
            }
            set.insert(off, (om | m, ov | v));
            who.entry(off).or_insert(i);
        }
    }
    Ok(set)
}
