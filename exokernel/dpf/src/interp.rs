//! The reference semantics: one filter at a time, straight from the definition. The trie
//! and the JIT must agree with this on every packet (property tests check it).

use crate::atom::Atom;
use crate::verify::Filter;
use crate::FilterId;

impl Filter {
    /// A filter accepts a packet when every atom matches; an atom that reaches past the end
    /// of the packet does not match.
    pub fn matches(&self, pkt: &[u8]) -> bool {
        let mut base = 0usize;
        for a in self.atoms() {
            match a {
                Atom::Eq { field, value } => {
                    if field.load(pkt, base) != Some(*value) {
                        return false;
                    }
                }
                Atom::Shift(s) => match s.apply(pkt, base) {
                    Some(b) => base = b,
                    None => return false,
                },
            }
        }
        true
    }
}

/// The ordering key of a match: higher wins. Encodes the rule of [`classify`]: more atoms
/// first, then the lower (older) filter id. Zero means "no match"; the JIT keeps the same
/// 64-bit key in a register.
#[inline]
pub(crate) fn match_key(priority: usize, id: FilterId) -> u64 {
    ((priority as u64) << 32) | (!id) as u64
}

/// The filter id encoded in a key from [`match_key`] (`None` for 0).
#[inline]
pub(crate) fn key_id(key: u64) -> Option<FilterId> {
    (key != 0).then_some(!(key as u32))
}

/// Which filter takes `pkt`, by the classification rule: among the filters that accept it,
/// the most specific one (most canonical atoms) wins; ties go to the lowest filter id, i.e.
/// the one installed first. Overlapping filters exist only within one owner or where the
/// owner permitted sharing (see [`crate::Dpf::insert`]).
pub fn classify<'a>(
    filters: impl IntoIterator<Item = (FilterId, &'a Filter)>,
    pkt: &[u8],
) -> Option<FilterId> {
    let best = filters
        .into_iter()
        .filter(|(_, f)| f.matches(pkt))
        .map(|(id, f)| match_key(f.priority(), id))
        .max()
        .unwrap_or(0);
    key_id(best)
}
