//! Open-addressing hash tables for nodes where many filters compare the same field with
//! different constants (thesis §6.1.1, "hash table compilation"). The keys are known when
//! the table is built, so we try a few multiplicative hash functions and keep the one with
//! the fewest probes; the JIT encodes the chosen multiplier as an immediate.

use alloc::vec;
use alloc::vec::Vec;

/// Groups with more children than this are dispatched by hash, fewer by compare chains.
pub const HASH_MIN: usize = 8;

/// Odd multipliers (Fibonacci hashing and well-mixed constants from common hash finalisers).
const MULTIPLIERS: [u32; 6] = [
    0x9e37_79b1,
    0x85eb_ca6b,
    0xc2b2_ae35,
    0x27d4_eb2f,
    0x1656_67b1,
    0xfd70_46c5,
];

/// A table of `1 << bits` slots, each empty (`None`) or the index of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub mult: u32,
    pub bits: u32,
    pub slots: Vec<Option<u32>>,
    /// The longest probe sequence beyond the home slot (0: no collisions).
    pub max_probe: usize,
}

/// The home slot of `key`.
#[inline]
pub fn home(key: u32, mult: u32, bits: u32) -> usize {
    (key.wrapping_mul(mult) >> (32 - bits)) as usize
}

impl Table {
    /// A table for distinct `keys`, at most half full so every probe ends at an empty slot.
    pub fn build(keys: &[u32]) -> Table {
        let bits = (2 * keys.len()).next_power_of_two().trailing_zeros().max(1);
        let mut best: Option<(usize, Table)> = None;
        for &mult in &MULTIPLIERS {
            let (cost, t) = Table::with(keys, mult, bits);
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, t));
            }
            if cost == 0 {
                break;
            }
        }
        match best {
            Some((_, t)) => t,
            None => Table::with(keys, MULTIPLIERS[0], bits).1,
        }
    }

    fn with(keys: &[u32], mult: u32, bits: u32) -> (usize, Table) {
        let size = 1usize << bits;
        let mut slots = vec![None; size];
        let (mut cost, mut max_probe) = (0, 0);
        for (i, &k) in keys.iter().enumerate() {
            let mut s = home(k, mult, bits);
            let mut probe = 0;
            while slots[s].is_some() {
                s = (s + 1) & (size - 1);
                probe += 1;
            }
            slots[s] = Some(i as u32);
            cost += probe;
            max_probe = max_probe.max(probe);
        }
        let t = Table {
            mult,
            bits,
            slots,
            max_probe,
        };
        (cost, t)
    }

    /// The index of `key`, given the table's key list.
    #[inline]
    pub fn find(&self, key: u32, key_at: impl Fn(usize) -> u32) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut s = home(key, self.mult, self.bits);
        loop {
            let i = self.slots[s]? as usize;
            if key_at(i) == key {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
    }
}
