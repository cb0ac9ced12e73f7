//! Files of the process: programs under `/bin/` come from the initrd (read
//! only); every other path names a file of the C-FFS-style library file
//! system on the XN disk (root `fs` in XN's catalogue), mounted on first
//! use. The file system belongs to the libOS's shared capability (slot 1,
//! held by every process of this libOS), so all its processes share one
//! tree the way users of one Unix account do; an environment outside the
//! libOS, without that capability, can read it (it is public) but not
//! change it. The first process formats a blank disk for XN
//! ([`prepare_disk`]).
//!
//! Open files are per process: a forked child gets a copy of the table, a
//! spawned one does not inherit them. Descriptors duplicated from one open
//! file share it and its position.

use crate::cell::Exclusive;
use crate::fs::cffs::{Cffs, DirEntry, Handle, Kind, Stat};
use crate::fs::FsError;
use crate::layout::{SLOT_SELF, SLOT_SHARED};
use crate::xn::Sys;
use alloc::string::String;
use alloc::vec::Vec;

/// XN catalogue name of the libOS's file system.
pub const ROOT: &str = "fs";
const MAX_OPEN: usize = crate::fd::MAX_FDS;

/// Open flags.
pub mod o {
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const CREATE: u32 = 4;
    pub const TRUNC: u32 = 8;
    pub const APPEND: u32 = 16;
    /// Files only: a directory is refused (`IsDir`), so one open call tells
    /// which it is.
    pub const FILE: u32 = 32;
}

/// An open file: what it is, how it was opened, the descriptors naming it
/// and the position they share.
#[derive(Clone, Copy)]
struct Open {
    h: Handle,
    flags: u32,
    refs: u32,
    pos: u64,
}

struct State {
    fs: Option<Cffs<Sys>>,
    open: [Option<Open>; MAX_OPEN],
}

static STATE: Exclusive<State> = Exclusive::new(State {
    fs: None,
    open: [None; MAX_OPEN],
});

/// Runs `f` on the state; Busy if an upcall handler interrupted a call
/// that is using it (the same holds for every call below).
/// Every process of the libOS shares the tree: the calls take turns under
/// one lock (`fslock`).
fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, FsError>) -> Result<R, FsError> {
    crate::fslock::with(|| STATE.try_with(f).unwrap_or(Err(FsError::Busy)))
}

/// Runs `f` on the file system, mounting (or making) it on first use.
fn with_fs<R>(f: impl FnOnce(&mut Cffs<Sys>) -> Result<R, FsError>) -> Result<R, FsError> {
    with_state(|st| f(mounted(&mut st.fs)?))
}

fn mounted(fs: &mut Option<Cffs<Sys>>) -> Result<&mut Cffs<Sys>, FsError> {
    if fs.is_none() {
        *fs = Some(mount_or_make()?);
    }
    fs.as_mut().ok_or(FsError::NotFound)
}

/// Whether `path` names an initrd program rather than a file-system file.
pub fn in_initrd(path: &str) -> bool {
    path.trim_start_matches('/').starts_with("bin/")
}

/// Mounts (or makes) the file system unless it is mounted already.
pub fn mount() -> Result<(), FsError> {
    with_fs(|_| Ok(()))
}

fn mount_or_make() -> Result<Cffs<Sys>, FsError> {
    let x = Sys::new(SLOT_SHARED)?;
    match Cffs::mount(x, ROOT) {
        Err(FsError::NotFound) | Err(FsError::Xn(exo_xn::Error::NoSuchName)) => {}
        r => return r,
    }
    // An XN disk without our tree yet (a blank disk is formatted for XN by
    // the first process, see `prepare_disk`).
    Cffs::mkfs(Sys::new(SLOT_SHARED)?, ROOT)
}

/// What [`prepare_disk`] found or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskState {
    NoDisk,
    /// A disk that is neither XN nor blank: left alone.
    Foreign,
    Formatted,
    Mounted,
}

/// For the first process (holding the root capability): formats a blank
/// disk (its first 64 KiB all zeros) for XN, and makes or mounts the
/// libOS's file system on an XN disk. A disk with other contents is left
/// untouched for raw use.
pub fn prepare_disk() -> Result<DiskState, FsError> {
    if crate::sys::blk_info().is_err() && Sys::new(SLOT_SELF)?.nblocks().is_err() {
        return Ok(DiskState::NoDisk);
    }
    let mut admin = Sys::new(SLOT_SELF)?;
    let mut formatted = false;
    if admin.nblocks().is_err() {
        let mut sector = [0u8; 4096];
        for s in 0..16 {
            if crate::sys::blk_read(s * 8, &mut sector, SLOT_SELF).is_err()
                || sector.iter().any(|&b| b != 0)
            {
                return Ok(DiskState::Foreign);
            }
        }
        admin.format(false)?;
        formatted = true;
    }
    mount()?;
    Ok(if formatted {
        DiskState::Formatted
    } else {
        DiskState::Mounted
    })
}

/// Opens `path` with `flags` (`o::*`); returns the open-file index.
pub fn open(path: &str, flags: u32) -> Result<usize, FsError> {
    with_state(|st| {
        let fs = mounted(&mut st.fs)?;
        let h = match fs.open_kind(path) {
            Ok((_, Kind::Dir)) if flags & (o::WRITE | o::APPEND | o::FILE) != 0 => {
                return Err(FsError::IsDir)
            }
            Ok((h, _)) if flags & o::TRUNC != 0 => {
                fs.truncate(&h, 0)?;
                h
            }
            Ok((h, _)) => h,
            Err(FsError::NotFound) if flags & o::CREATE != 0 => fs.create(path)?,
            Err(e) => return Err(e),
        };
        let i = st
            .open
            .iter()
            .position(Option::is_none)
            .ok_or(FsError::NoSpace)?;
        st.open[i] = Some(Open {
            h,
            flags,
            refs: 1,
            pos: 0,
        });
        Ok(i)
    })
}

/// Runs `f` on the file system and open file `i`.
fn with_open<R>(
    i: usize,
    f: impl FnOnce(&mut Cffs<Sys>, &mut Open) -> Result<R, FsError>,
) -> Result<R, FsError> {
    with_state(|st| {
        let of = st
            .open
            .get_mut(i)
            .and_then(Option::as_mut)
            .ok_or(FsError::Invalid)?;
        let fs = st.fs.as_mut().ok_or(FsError::Invalid)?;
        f(fs, of)
    })
}

/// Reads at the open file's position and moves it past what was read.
pub fn read(i: usize, buf: &mut [u8]) -> Result<usize, FsError> {
    with_open(i, |fs, of| {
        let n = fs.read(&of.h, of.pos, buf)?;
        of.pos += n as u64;
        Ok(n)
    })
}

/// Writes at the open file's position (at its end with APPEND) and moves
/// the position past what was written.
pub fn write(i: usize, data: &[u8]) -> Result<usize, FsError> {
    with_open(i, |fs, of| {
        if of.flags & (o::WRITE | o::APPEND) == 0 {
            return Err(FsError::Invalid);
        }
        if of.flags & o::APPEND != 0 {
            of.pos = fs.fstat(&of.h)?.size;
        }
        let n = fs.write(&of.h, of.pos, data)?;
        of.pos += n as u64;
        Ok(n)
    })
}

/// The open file's position.
pub fn tell(i: usize) -> Result<u64, FsError> {
    with_open(i, |_, of| Ok(of.pos))
}

pub fn seek(i: usize, pos: u64) -> Result<(), FsError> {
    with_open(i, |_, of| {
        of.pos = pos;
        Ok(())
    })
}

/// One more descriptor names open file `i`.
pub fn dup(i: usize) -> Result<(), FsError> {
    with_open(i, |_, of| {
        of.refs += 1;
        Ok(())
    })
}

pub fn fsync(i: usize) -> Result<(), FsError> {
    with_open(i, |fs, of| fs.fsync(&of.h))
}

pub fn fstat(i: usize) -> Result<Stat, FsError> {
    with_open(i, |fs, of| fs.fstat(&of.h))
}

/// A descriptor naming open file `i` is closed: the file is forgotten with
/// the last (not if an upcall interrupted a file-system call).
pub fn close(i: usize) {
    let _ = with_state(|st| {
        if let Some(slot) = st.open.get_mut(i) {
            match slot {
                Some(of) if of.refs > 1 => of.refs -= 1,
                _ => *slot = None,
            }
        }
        Ok(())
    });
}

pub fn mkdir(path: &str) -> Result<(), FsError> {
    with_fs(|fs| fs.mkdir(path))
}

pub fn readdir(path: &str) -> Result<Vec<DirEntry>, FsError> {
    with_fs(|fs| fs.readdir(path))
}

pub fn unlink(path: &str) -> Result<(), FsError> {
    with_fs(|fs| fs.unlink(path))
}

pub fn rmdir(path: &str) -> Result<(), FsError> {
    with_fs(|fs| fs.rmdir(path))
}

pub fn rename(from: &str, to: &str) -> Result<(), FsError> {
    with_fs(|fs| fs.rename(from, to))
}

pub fn stat(path: &str) -> Result<Stat, FsError> {
    with_fs(|fs| fs.stat(path))
}

/// Writes every change of this process to disk (Busy, writing nothing,
/// from an upcall that interrupted a change: the tree is half made).
pub fn sync() -> Result<(), FsError> {
    with_state(|st| match st.fs.as_mut() {
        Some(fs) => fs.sync(),
        None => Ok(()),
    })
}

/// Syncs and marks the XN disk cleanly shut down (the first process, as
/// the machine ends; needs the root capability).
pub fn shutdown() -> Result<(), FsError> {
    sync()?;
    Sys::new(SLOT_SELF)?.shutdown()?;
    Ok(())
}

/// A readable kind name, for listings.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Dir => "dir",
    }
}

/// A path joined from a directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    let mut p = String::from(dir.trim_end_matches('/'));
    p.push('/');
    p.push_str(name);
    p
}
