//! Writeback in XN's safe order. XN refuses to write a block that points to
//! one not yet on disk (taint), so a block goes out only after the new
//! children that taint it; fsync then walks up the registry's parent links
//! so the file is reachable from the root on disk, not just written.

use super::{Cffs, FsError, Inode, Loc};
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::registry::{state, NONE};
use exo_xn::Db;

impl<X: XnCalls> Cffs<X> {
    /// Write back every block this libFS dirtied, children before parents.
    pub fn sync(&mut self) -> Result<(), FsError> {
        crate::fs::writeback::sync_set(&mut self.x, &mut self.dirty)
    }

    /// fsync of the inode at `loc`: its own blocks (all of them), then its
    /// directory block and each ancestor, each after whatever new children
    /// taint it.
    pub(super) fn fsync_at(&mut self, loc: Loc, ino: &Inode) -> Result<(), FsError> {
        let top = ino.ptrs[super::layout::DIRECT];
        let mapped = self.mapped(loc, ino)?;
        for (_, s) in &mapped {
            self.flush(s.cur, true, 0)?;
        }
        // A file's indirect blocks (under its double-indirect one), then
        // the block at slot DIRECT.
        let mut mids: Vec<Db> = mapped
            .iter()
            .map(|(_, s)| s.parent)
            .filter(|&p| p != loc.block && p != top)
            .collect();
        mids.dedup();
        for m in mids {
            self.flush(m, true, 0)?;
        }
        if top != 0 {
            self.flush(top, true, 0)?;
        }
        let mut b = loc.block;
        for _ in 0..super::dir::MAX_DEPTH * 2 {
            self.flush(b, false, 0)?;
            match self.x.read_attr(b) {
                Some(a) if a.parent != NONE => b = a.parent,
                _ => return Ok(()),
            }
        }
        Err(FsError::Corrupt("parent chain too long"))
    }

    /// Write `b` if dirty, after its dirty children: all of them (`all`), or
    /// only those XN needs first (not yet initialized, or tainted).
    fn flush(&mut self, b: Db, all: bool, depth: usize) -> Result<(), FsError> {
        if depth > super::dir::MAX_DEPTH * 2 {
            return Err(FsError::Corrupt("tree too deep"));
        }
        let Some(a) = self.x.read_attr(b) else {
            self.dirty.remove(&b);
            return Ok(());
        };
        // The TAINTED bit may be stale-set (see writeback.rs): at worst this
        // writes a few new children early.
        if all || a.has(state::TAINTED) {
            let kids: Vec<Db> = self.dirty.iter().copied().filter(|&k| k != b).collect();
            for k in kids {
                let Some(ka) = self.x.read_attr(k) else {
                    continue;
                };
                let needed = all || ka.has(state::UNINIT) || ka.has(state::TAINTED);
                if ka.parent == b && ka.has(state::DIRTY) && needed {
                    self.flush(k, all, depth + 1)?;
                }
            }
        }
        if a.has(state::DIRTY) {
            self.x.writeback(b, 1)?;
        }
        self.dirty.remove(&b);
        Ok(())
    }
}
