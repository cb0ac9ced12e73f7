//! Rename. Because inodes are embedded in directory entries, renaming
//! *within* a directory only rewrites the entry's name: one block, atomic
//! on disk. Renaming *across* directories moves the inode to another block,
//! and with it the ownership of every block the inode points to.
//!
//! XN can move a pointer only to reference-counted metadata (`add_edge`
//! then `free`), and any such move has a window where the count on disk
//! differs from the pointers on disk (two blocks change): reconstruction
//! would then mark the whole tree tainted, and XN has no patch programs yet
//! to repair it. Data blocks have no count at all. So cffs keeps no counts
//! and moves by copying: the destination entry is created and filled
//! (fresh blocks, co-located with the new directory), the copy is synced,
//! and only then is the source removed (Ganger & Patt's third rule, which
//! XN leaves to libFSes). A crash can leave the file under both names,
//! never under neither. The cost is proportional to what moves, which is
//! small for the small files C-FFS is built for; directories move their
//! whole subtree.

use super::dir::{components, MAX_DEPTH};
use super::layout::*;
use super::{Cffs, FsError, Loc};
use exo_xn::api::XnCalls;
use exo_xn::{TypeId, BLOCK_SIZE};

impl<X: XnCalls> Cffs<X> {
    /// Rename `from` to `to`, replacing a file `to` or an empty directory `to`.
    /// Open handles to a file moved across directories become stale.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let (sdir, sname) = self.resolve_parent(from)?;
        let (src, sino) = self.lookup(sdir, &sname)?.ok_or(FsError::NotFound)?;
        let (ddir, dname) = self.resolve_parent(to)?;
        if sino.kind == Kind::Dir {
            let (f, t) = (components(from)?, components(to)?);
            if t.len() > f.len() && t[..f.len()] == f[..] {
                return Err(FsError::Invalid);
            }
        }
        if let Some((dst, dino)) = self.lookup(ddir, &dname)? {
            if dst == src {
                return Ok(());
            }
            match (sino.kind, dino.kind) {
                (Kind::File, Kind::Dir) => return Err(FsError::IsDir),
                (Kind::Dir, Kind::File) => return Err(FsError::NotDir),
                _ => {}
            }
            self.remove_entry(dst, &dino)?;
        }
        if sdir == ddir {
            let mut name = [0u8; NAME_MAX];
            name[..dname.len()].copy_from_slice(dname.as_bytes());
            let off = entry_off(src.slot);
            self.put(src.block, off, &name)?;
            return self.put(src.block, off + OFF_NLEN, &[dname.len() as u8]);
        }
        let dst = self.add_entry(ddir, &dname, sino.kind)?;
        let copied = self
            .copy_into(src, &sino, dst, 0)
            .and_then(|()| self.sync());
        if let Err(e) = copied {
            let _ = self.remove_tree(dst, 0);
            return Err(e);
        }
        self.remove_tree(src, 0)
    }

    /// Copy the contents of the inode at `src` into the empty entry at `dst`.
    fn copy_into(&mut self, src: Loc, sino: &Inode, dst: Loc, depth: usize) -> Result<(), FsError> {
        if depth > MAX_DEPTH {
            return Err(FsError::Corrupt("directory tree too deep"));
        }
        let mut dino = self.entry(dst)?.ok_or(FsError::Corrupt("entry vanished"))?;
        self.put(
            dst.block,
            entry_off(dst.slot) + OFF_MODE,
            &sino.mode.to_le_bytes(),
        )?;
        match sino.kind {
            Kind::File => {
                let size = sino.size.min(MAX_FILE);
                for (bi, s) in self.mapped(src, sino)? {
                    let pos = (bi * BLOCK_SIZE) as u64;
                    if pos >= size {
                        continue;
                    }
                    self.load(s.parent, s.part, s.cur, TypeId::DB)?;
                    let b = self.read_block(s.cur)?;
                    let len = (size - pos).min(BLOCK_SIZE as u64) as usize;
                    self.write_at(dst, &mut dino, pos, &b[..len])?;
                }
                self.truncate_at(dst, &mut dino, size)
            }
            Kind::Dir => {
                for (l, i) in self.entries(src, sino)? {
                    let d = self.add_entry(dst, &i.name, i.kind)?;
                    self.copy_into(l, &i, d, depth + 1)?;
                }
                Ok(())
            }
        }
    }

    /// Remove the inode at `loc` and everything below it.
    fn remove_tree(&mut self, loc: Loc, depth: usize) -> Result<(), FsError> {
        if depth > MAX_DEPTH {
            return Err(FsError::Corrupt("directory tree too deep"));
        }
        let Some(ino) = self.entry(loc)? else {
            return Ok(());
        };
        if ino.kind == Kind::Dir {
            for (l, _) in self.entries(loc, &ino)? {
                self.remove_tree(l, depth + 1)?;
            }
        }
        self.remove_entry(loc, &ino)
    }
}
