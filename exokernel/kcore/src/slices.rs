//! The time-slice vector (Aegis): slices are allocated by position and run
//! round robin; the owner of the current slice gets the CPU if runnable.

use crate::Error;
use exo_abi::env::NSLICES;

pub struct Slices {
    owner: [u32; NSLICES],
    current: usize,
}

impl Default for Slices {
    fn default() -> Self {
        Self::new()
    }
}

impl Slices {
    pub const fn new() -> Self {
        Slices {
            owner: [0; NSLICES],
            current: NSLICES - 1,
        }
    }

    pub fn owners(&self) -> &[u32; NSLICES] {
        &self.owner
    }

    pub fn owner(&self, pos: usize) -> Option<u32> {
        self.owner.get(pos).copied().filter(|&e| e != 0)
    }

    /// Gives free slice `pos` to `env`.
    pub fn alloc(&mut self, pos: usize, env: u32) -> Result<(), Error> {
        match self.owner.get_mut(pos) {
            None => Err(Error::Invalid),
            Some(o) if *o != 0 => Err(Error::Taken),
            Some(o) => {
                *o = env;
                Ok(())
            }
        }
    }

    /// Frees slice `pos`, returning its former owner.
    pub fn free(&mut self, pos: usize) -> Result<u32, Error> {
        let o = self.owner.get_mut(pos).ok_or(Error::Invalid)?;
        match core::mem::take(o) {
            0 => Err(Error::Invalid),
            e => Ok(e),
        }
    }

    /// The owner of the slice being run (0 if free).
    pub fn current_owner(&self) -> u32 {
        self.owner[self.current]
    }

    /// Gives the current slice to `env` permanently.
    pub fn donate_current(&mut self, env: u32) {
        self.owner[self.current] = env;
    }

    /// Frees every slice `env` holds.
    pub fn release(&mut self, env: u32) {
        self.owner
            .iter_mut()
            .filter(|o| **o == env)
            .for_each(|o| *o = 0);
    }

    pub fn count(&self, env: u32) -> u32 {
        self.owner.iter().filter(|&&o| o == env).count() as u32
    }

    /// Advances to the next slice whose owner `runnable` accepts, at most one
    /// full turn; returns that owner.
    pub fn next(&mut self, mut runnable: impl FnMut(u32) -> bool) -> Option<u32> {
        for _ in 0..NSLICES {
            self.current = (self.current + 1) % NSLICES;
            let e = self.owner[self.current];
            if e != 0 && runnable(e) {
                return Some(e);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_by_position() {
        let mut s = Slices::new();
        s.alloc(0, 1).unwrap();
        s.alloc(2, 2).unwrap();
        s.alloc(3, 1).unwrap();
        assert_eq!(s.alloc(2, 3), Err(Error::Taken));
        assert_eq!(s.alloc(NSLICES, 3), Err(Error::Invalid));
        let order: [u32; 6] = core::array::from_fn(|_| s.next(|_| true).unwrap());
        assert_eq!(order, [1, 2, 1, 1, 2, 1]);
        assert_eq!(s.count(1), 2);
    }

    #[test]
    fn skips_unrunnable_and_donates() {
        let mut s = Slices::new();
        s.alloc(0, 1).unwrap();
        s.alloc(1, 2).unwrap();
        assert_eq!(s.next(|e| e == 2), Some(2));
        s.donate_current(3);
        assert_eq!(s.owner(1), Some(3));
        assert_eq!(s.next(|_| false), None);
        s.release(1);
        assert_eq!(s.owner(0), None);
        assert_eq!(s.free(0), Err(Error::Invalid));
        assert_eq!(s.free(1), Ok(3));
    }
}
