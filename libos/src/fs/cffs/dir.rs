//! Directories: path resolution, listing, and adding and removing entries.
//! A directory's content blocks hold its entries (the embedded inodes of
//! its children); they are allocated lazily, next to the block holding the
//! directory's own entry, and name uniqueness is kept by scanning them.

use super::layout::*;
use super::{Cffs, FsError, Loc, Stat};
use alloc::string::String;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::{Init, BLOCK_SIZE};

/// Deepest path (and directory recursion) followed: a hostile disk could
/// hold a directory cycle.
pub(super) const MAX_DEPTH: usize = 64;

/// Path components after lexical "." and ".." handling.
pub(super) fn components(path: &str) -> Result<Vec<&str>, FsError> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.len() > MAX_DEPTH {
        return Err(FsError::Invalid);
    }
    Ok(out)
}

impl<X: XnCalls> Cffs<X> {
    /// The inode a path names.
    pub(super) fn resolve(&mut self, path: &str) -> Result<(Loc, Inode), FsError> {
        let mut loc = self.root();
        let mut ino = self.entry(loc)?.ok_or(FsError::Corrupt("no root"))?;
        for c in components(path)? {
            if ino.kind != Kind::Dir {
                return Err(FsError::NotDir);
            }
            check_name(c)?;
            (loc, ino) = self.lookup_in(loc, &ino, c)?.ok_or(FsError::NotFound)?;
        }
        Ok((loc, ino))
    }

    /// The directory a path's last component would live in, and that name.
    pub(super) fn resolve_parent(&mut self, path: &str) -> Result<(Loc, String), FsError> {
        let mut cs = components(path)?;
        let name = cs.pop().ok_or(FsError::Invalid)?;
        check_name(name)?;
        let mut loc = self.root();
        let mut ino = self.entry(loc)?.ok_or(FsError::Corrupt("no root"))?;
        for c in cs {
            if ino.kind != Kind::Dir {
                return Err(FsError::NotDir);
            }
            check_name(c)?;
            (loc, ino) = self.lookup_in(loc, &ino, c)?.ok_or(FsError::NotFound)?;
        }
        if ino.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        Ok((loc, name.into()))
    }

    /// The content blocks of the directory at `loc`, cached and bound.
    pub(super) fn dir_blocks(&mut self, loc: Loc, ino: &Inode) -> Result<Vec<u64>, FsError> {
        let ty = self.types.dir;
        let mut out = Vec::new();
        for (_, s) in self.mapped(loc, ino)? {
            self.load(s.parent, s.part, s.cur, ty)?;
            out.push(s.cur);
        }
        Ok(out)
    }

    /// The entries of the directory at `loc`.
    pub(super) fn entries(&mut self, loc: Loc, ino: &Inode) -> Result<Vec<(Loc, Inode)>, FsError> {
        let mut out = Vec::new();
        for db in self.dir_blocks(loc, ino)? {
            let b = self.read_block(db)?;
            for slot in 0..ENTRIES {
                let off = entry_off(slot);
                if let Some(i) = Inode::decode(&b[off..off + ENTRY_SIZE])? {
                    out.push((Loc { block: db, slot }, i));
                }
            }
        }
        Ok(out)
    }

    /// `name` in the directory at `dloc`.
    pub(super) fn lookup(
        &mut self,
        dloc: Loc,
        name: &str,
    ) -> Result<Option<(Loc, Inode)>, FsError> {
        let dir = self.entry(dloc)?.ok_or(FsError::NotFound)?;
        self.lookup_in(dloc, &dir, name)
    }

    /// `name` in the directory `dir` at `dloc`: its blocks are cached one
    /// at a time, up to the one holding the name, and searched where they
    /// lie (names compared in place, only the match decoded).
    pub(super) fn lookup_in(
        &mut self,
        dloc: Loc,
        dir: &Inode,
        name: &str,
    ) -> Result<Option<(Loc, Inode)>, FsError> {
        if dir.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        let ty = self.types.dir;
        for (_, s) in self.mapped(dloc, dir)? {
            self.load(s.parent, s.part, s.cur, ty)?;
            let found = match self.x.map_block(s.cur) {
                Some(b) => find_name(b, name)?,
                None => find_name(&self.read_block(s.cur)?, name)?,
            };
            if let Some((slot, ino)) = found {
                return Ok(Some((Loc { block: s.cur, slot }, ino)));
            }
        }
        Ok(None)
    }

    /// Add an empty file or directory `name` to the directory at `dloc`:
    /// into the first free slot, or a new content block if all are full.
    pub(super) fn add_entry(&mut self, dloc: Loc, name: &str, kind: Kind) -> Result<Loc, FsError> {
        check_name(name)?;
        let mut dir = self.entry(dloc)?.ok_or(FsError::NotFound)?;
        if dir.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        let mut free = None;
        for db in self.dir_blocks(dloc, &dir)? {
            let b = self.read_block(db)?;
            for slot in 0..ENTRIES {
                let off = entry_off(slot);
                let e = &b[off..off + ENTRY_SIZE];
                match Inode::decode(e)? {
                    Some(i) if i.name == name => return Err(FsError::Exists),
                    Some(_) => {}
                    // A free entry still holding pointers is garbage: skip it.
                    None if free.is_none() && e[OFF_PTRS..].iter().all(|&x| x == 0) => {
                        let gen = u16::from_le_bytes([e[OFF_GEN], e[OFF_GEN + 1]]);
                        free = Some((Loc { block: db, slot }, gen));
                    }
                    None => {}
                }
            }
        }
        let (loc, gen) = match free {
            Some(f) => f,
            None => (self.grow_dir(dloc, &mut dir)?, 0),
        };
        let mode = self.block_mode(loc.block)?;
        let ino = Inode {
            kind,
            name: name.into(),
            gen: gen.wrapping_add(1),
            mode,
            size: 0,
            ptrs: [0; SLOTS],
        };
        // The entry owns nothing yet, so its kind byte is still writable.
        self.put(loc.block, entry_off(loc.slot), &ino.encode_head())?;
        Ok(loc)
    }

    /// Give the directory at `dloc` one more (empty) content block.
    fn grow_dir(&mut self, dloc: Loc, dir: &mut Inode) -> Result<Loc, FsError> {
        let ty = self.types.dir;
        for bi in 0..MAX_DIR_BLOCKS {
            let Some(site) = self.site(dloc, dir, bi, true)? else {
                continue;
            };
            if site.cur == 0 {
                let mode = self.block_mode(site.parent)?;
                let h = header(self.x.cap(), mode, MAGIC_DIR);
                let db = self.alloc_at(site, ty, dloc.block, Init::Bytes(&h))?;
                if bi < DIRECT {
                    dir.ptrs[bi] = db;
                }
                return Ok(Loc { block: db, slot: 0 });
            }
        }
        Err(FsError::NoSpace)
    }

    /// Remove the entry at `loc`: free its blocks (a directory must be
    /// empty), then clear it, keeping the generation so old handles go stale.
    pub(super) fn remove_entry(&mut self, loc: Loc, ino: &Inode) -> Result<(), FsError> {
        if ino.kind == Kind::Dir && !self.entries(loc, ino)?.is_empty() {
            return Err(FsError::NotEmpty);
        }
        let mut ino = ino.clone();
        self.free_from(loc, &mut ino, 0)?;
        let mut head = [0u8; OFF_PTRS];
        head[OFF_GEN..OFF_GEN + 2].copy_from_slice(&ino.gen.to_le_bytes());
        self.put(loc.block, entry_off(loc.slot), &head)
    }

    pub(super) fn stat_of(&mut self, loc: Loc, ino: &Inode) -> Result<Stat, FsError> {
        let size = match ino.kind {
            Kind::File => ino.size,
            Kind::Dir => (self.mapped(loc, ino)?.len() * BLOCK_SIZE) as u64,
        };
        Ok(Stat {
            kind: ino.kind,
            size,
            mode: ino.mode,
            dir_block: loc.block,
            number: loc.block * ENTRIES as u64 + loc.slot as u64,
        })
    }
}
