//! C-FFS on XN: a Unix-like library file system after the co-locating fast
//! file system of thesis §4.7 (and Ganger & Kaashoek's C-FFS).
//!
//! - **Embedded inodes**: a file's inode (size, mode, block pointers) is its
//!   directory entry ([`layout`]); there are no inode blocks, so a lookup and
//!   the file's metadata cost one directory block.
//! - **Co-location**: a file's data blocks are allocated from the first free
//!   block after its directory block (XN's `find_free` hint), so a small file
//!   and its directory are read together; a directory's new content blocks
//!   likewise go next to the block that holds the directory's entry.
//! - **Protection**: all metadata is XN metadata of types `cffs.dir`,
//!   `cffs.ind`, `cffs.dind` ([`templates`]); XN checks every pointer change
//!   with their owns-udfs and every access with their acl-uf (owner
//!   capability in each block's header, a world-readable mode bit).
//! - **Durability**: writes stay in XN's buffer cache until [`Cffs::fsync`]
//!   or [`Cffs::sync`] writes them back, children before parents (XN refuses
//!   a block that points to one not yet on disk); rename is in rename.rs.

mod blocks;
mod dir;
mod file;
pub mod layout;
mod rename;
mod sync;
pub mod templates;

pub use layout::Kind;
pub use templates::Types;

use super::{install, FsError};
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::{Db, Error, Init, MountKind};
use layout::*;

/// Where an embedded inode lives: a directory block and an entry slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub block: Db,
    pub slot: u32,
}

/// An open file or directory. It names the entry slot and the generation
/// the slot had when opened: a handle outlives neither unlink nor a rename
/// across directories (which moves the inode), and says so with
/// [`FsError::StaleHandle`] instead of reaching another file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    loc: Loc,
    gen: u16,
}

/// One directory listing row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: Kind,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// Bytes (files) or bytes of content blocks (directories).
    pub size: u64,
    pub mode: u32,
    /// The block holding the embedded inode (where its data is co-located).
    pub dir_block: Db,
    /// A number no other live file or directory has (its inode's place).
    pub number: u64,
}

/// A mounted C-FFS tree.
pub struct Cffs<X: XnCalls> {
    x: X,
    types: Types,
    /// The super block (the root catalogue extent).
    sb: Db,
    /// Blocks this libFS changed that may still be dirty in XN's cache.
    dirty: BTreeSet<Db>,
}

impl<X: XnCalls> Cffs<X> {
    /// Install the cffs types if absent and create a world-readable tree
    /// named `root` in XN's root catalogue, owned by the caller's capability.
    pub fn mkfs(x: X, root: &str) -> Result<Self, FsError> {
        Self::mkfs_mode(x, root, MODE_PUBLIC)
    }

    /// [`Cffs::mkfs`] with the tree's mode (0: private to the owner).
    pub fn mkfs_mode(mut x: X, root: &str, mode: u32) -> Result<Self, FsError> {
        let ids = install::ensure(&mut x, &templates::NAMES, |ids| {
            Types::from_ids(ids)
                .map(templates::templates)
                .unwrap_or_default()
        })?;
        let types = Types::from_ids(&ids).ok_or(FsError::Corrupt("type ids"))?;
        let mut img = [0u8; HEADER + ENTRY_SIZE];
        img[..16].copy_from_slice(&header(x.cap(), mode, MAGIC_DIR));
        let root_ino = Inode {
            kind: Kind::Dir,
            name: "/".into(),
            gen: 1,
            mode,
            size: 0,
            ptrs: [0; SLOTS],
        };
        img[HEADER..HEADER + OFF_PTRS].copy_from_slice(&root_ino.encode_head());
        let kind = MountKind::Root {
            ty: types.dir,
            temporary: false,
        };
        match x.install_mount(root, None, 1, kind, Init::Bytes(&img)) {
            Err(Error::Exists) => return Err(FsError::Exists),
            r => r?,
        };
        Self::mount(x, root)
    }

    /// Mount the tree `root` made by [`Cffs::mkfs`].
    pub fn mount(mut x: X, root: &str) -> Result<Self, FsError> {
        let ids = match install::find(&mut x, &templates::NAMES) {
            // The first three types without the fourth: an older C-FFS,
            // whose files' slot DIRECT names a single indirect block.
            Err(FsError::NotFound) if install::find(&mut x, &templates::NAMES[..3]).is_ok() => {
                return Err(FsError::Corrupt(
                    "a C-FFS made by an older exo (no double-indirect type): make the disk again",
                ))
            }
            r => r?,
        };
        let types = Types::from_ids(&ids).ok_or(FsError::Corrupt("type ids"))?;
        let e = match x.lookup(root) {
            Err(Error::NoSuchName) => return Err(FsError::NotFound),
            r => r?,
        };
        if !e.is_root || e.ty != types.dir || e.nblocks != 1 {
            return Err(FsError::Corrupt("not a cffs root"));
        }
        x.read_and_insert(e.db, 1)?;
        x.mount(root)?;
        let mut fs = Cffs {
            x,
            types,
            sb: e.db,
            dirty: BTreeSet::new(),
        };
        let mut magic = [0u8; 4];
        fs.read_bytes(e.db, 12, &mut magic)?;
        if u32::from_le_bytes(magic) != MAGIC_DIR {
            return Err(FsError::Corrupt("bad super block magic"));
        }
        match fs.entry(fs.root())? {
            Some(i) if i.kind == Kind::Dir => Ok(fs),
            _ => Err(FsError::Corrupt("no root directory")),
        }
    }

    /// The XN calls underneath (tests, tools).
    pub fn xn(&mut self) -> &mut X {
        &mut self.x
    }

    pub fn into_inner(self) -> X {
        self.x
    }

    pub fn types(&self) -> Types {
        self.types
    }

    /// The super block's disk address.
    pub fn super_block(&self) -> Db {
        self.sb
    }

    /// The root directory's inode: entry 0 of the super block.
    fn root(&self) -> Loc {
        Loc {
            block: self.sb,
            slot: 0,
        }
    }

    // ---- Path operations ----

    /// Open an existing file or directory.
    pub fn open(&mut self, path: &str) -> Result<Handle, FsError> {
        self.open_kind(path).map(|(h, _)| h)
    }

    /// Open an existing file or directory, saying which it is.
    pub fn open_kind(&mut self, path: &str) -> Result<(Handle, Kind), FsError> {
        let (loc, ino) = self.resolve(path)?;
        Ok((Handle { loc, gen: ino.gen }, ino.kind))
    }

    /// Create an empty file; fails with [`FsError::Exists`] if the name is taken.
    pub fn create(&mut self, path: &str) -> Result<Handle, FsError> {
        let (dloc, name) = self.resolve_parent(path)?;
        let loc = self.add_entry(dloc, &name, Kind::File)?;
        let ino = self.entry(loc)?.ok_or(FsError::Corrupt("entry vanished"))?;
        Ok(Handle { loc, gen: ino.gen })
    }

    pub fn mkdir(&mut self, path: &str) -> Result<(), FsError> {
        let (dloc, name) = self.resolve_parent(path)?;
        self.add_entry(dloc, &name, Kind::Dir).map(drop)
    }

    pub fn stat(&mut self, path: &str) -> Result<Stat, FsError> {
        let (loc, ino) = self.resolve(path)?;
        self.stat_of(loc, &ino)
    }

    pub fn fstat(&mut self, h: &Handle) -> Result<Stat, FsError> {
        let (loc, ino) = self.inode_of(h)?;
        self.stat_of(loc, &ino)
    }

    /// The blocks holding a file's data (or a directory's entries), in
    /// logical order: where co-location put them.
    pub fn blocks(&mut self, path: &str) -> Result<Vec<Db>, FsError> {
        let (loc, ino) = self.resolve(path)?;
        Ok(self
            .mapped(loc, &ino)?
            .into_iter()
            .map(|(_, s)| s.cur)
            .collect())
    }

    pub fn readdir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let (loc, ino) = self.resolve(path)?;
        if ino.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        let mut out = Vec::new();
        for (l, i) in self.entries(loc, &ino)? {
            let size = self.stat_of(l, &i)?.size;
            out.push(DirEntry {
                name: i.name,
                kind: i.kind,
                size,
            });
        }
        Ok(out)
    }

    /// Remove a file.
    pub fn unlink(&mut self, path: &str) -> Result<(), FsError> {
        let (dloc, name) = self.resolve_parent(path)?;
        let (loc, ino) = self.lookup(dloc, &name)?.ok_or(FsError::NotFound)?;
        if ino.kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        self.remove_entry(loc, &ino)
    }

    /// Remove an empty directory.
    pub fn rmdir(&mut self, path: &str) -> Result<(), FsError> {
        let (dloc, name) = self.resolve_parent(path)?;
        let (loc, ino) = self.lookup(dloc, &name)?.ok_or(FsError::NotFound)?;
        if ino.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        self.remove_entry(loc, &ino)
    }

    // ---- Handle operations ----

    pub fn read(&mut self, h: &Handle, offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let (loc, ino) = self.inode_of(h)?;
        self.read_at(loc, &ino, offset, buf)
    }

    pub fn write(&mut self, h: &Handle, offset: u64, data: &[u8]) -> Result<usize, FsError> {
        let (loc, mut ino) = self.inode_of(h)?;
        self.write_at(loc, &mut ino, offset, data)
    }

    /// Set a file's size, freeing the blocks past it.
    pub fn truncate(&mut self, h: &Handle, len: u64) -> Result<(), FsError> {
        let (loc, mut ino) = self.inode_of(h)?;
        self.truncate_at(loc, &mut ino, len)
    }

    /// Write the file or directory and everything its on-disk path from the
    /// root needs (children before parents) back to disk.
    pub fn fsync(&mut self, h: &Handle) -> Result<(), FsError> {
        let (loc, ino) = self.inode_of(h)?;
        self.fsync_at(loc, &ino)
    }

    /// [`Cffs::fsync`] by path.
    pub fn fsync_path(&mut self, path: &str) -> Result<(), FsError> {
        let (loc, ino) = self.resolve(path)?;
        self.fsync_at(loc, &ino)
    }

    // ---- Whole-file conveniences ----

    /// A whole file's contents.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        let (loc, ino) = self.resolve(path)?;
        if ino.kind != Kind::File {
            return Err(FsError::IsDir);
        }
        let len = usize::try_from(ino.size.min(MAX_FILE)).map_err(|_| FsError::TooBig)?;
        let mut buf = alloc::vec![0u8; len];
        let n = self.read_at(loc, &ino, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Create or replace a file's contents.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<Handle, FsError> {
        let h = match self.open(path) {
            Ok(h) => h,
            Err(FsError::NotFound) => self.create(path)?,
            Err(e) => return Err(e),
        };
        self.truncate(&h, 0)?;
        self.write(&h, 0, data)?;
        Ok(h)
    }

    /// The inode a handle names, if it still does.
    fn inode_of(&mut self, h: &Handle) -> Result<(Loc, Inode), FsError> {
        match self.entry(h.loc)? {
            Some(i) if i.gen == h.gen => Ok((h.loc, i)),
            _ => Err(FsError::StaleHandle),
        }
    }
}
