//! Writing back a set of dirty blocks in XN's safe order, shared by the
//! libFSes: XN refuses a block that still points to one not yet on disk, so
//! each pass writes what it can and the tainting children go first.

use super::FsError;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::registry::state;
use exo_xn::{Db, Error};

/// Write back every block of `dirty` that is still dirty; empties the set.
pub fn sync_set<X: XnCalls>(x: &mut X, dirty: &mut BTreeSet<Db>) -> Result<(), FsError> {
    loop {
        let mut progress = false;
        let pending: Vec<Db> = dirty.iter().copied().collect();
        for b in pending {
            match x.read_attr(b) {
                // Ask XN rather than trust the registry's TAINTED bit: it
                // can stay set on a new block after its last new child is
                // written (the block itself is still uninitialized).
                Some(a) if a.has(state::DIRTY) => match x.writeback(b, 1) {
                    Ok(_) => {
                        dirty.remove(&b);
                        progress = true;
                    }
                    Err(Error::Tainted) => {}
                    Err(e) => return Err(e.into()),
                },
                // Freed, or written by someone else (a syncer may flush anyone's).
                _ => {
                    dirty.remove(&b);
                }
            }
        }
        if dirty.is_empty() {
            return Ok(());
        }
        if !progress {
            // Tainted by blocks outside the set: nothing this pass can fix.
            return Err(FsError::Xn(Error::Tainted));
        }
    }
}
