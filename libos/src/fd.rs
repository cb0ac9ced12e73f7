//! File descriptors: the console, pipe ends, read-only initrd files, files
//! of the library file system (`crate::files`) and `/dev/null`.
//! A child gets its first descriptors from the parent in its information
//! page (`process::PInfo`); the table is this process's from then on.
//! An upcall handler that interrupts a change to the table or a pipe
//! transfer finds it busy: the calls here then fail with `Error::Busy`.

use crate::cell::Exclusive;
use crate::layout::{MAX_PIPES, PIPE_BASE, PIPE_BYTES};
use crate::pipe::Pipe;
use crate::sys::{self, Error};

pub const MAX_FDS: usize = 16;

pub mod kind {
    pub const CLOSED: u32 = 0;
    pub const CONSOLE: u32 = 1;
    pub const PIPE_READ: u32 = 2;
    pub const PIPE_WRITE: u32 = 3;
    /// A read-only initrd file: `idx` is its index in the archive.
    pub const INITRD_FILE: u32 = 4;
    /// A file of the library file system: `idx` is its open-file index.
    pub const FS_FILE: u32 = 5;
    /// `/dev/null`: reads end at once, writes vanish.
    pub const NULL: u32 = 6;
    /// A directory opened to be listed (by the Linux personality, which
    /// keeps its path): not readable or writable as a file.
    pub const DIR: u32 = 7;
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd {
    pub kind: u32,
    /// Pipe index for pipe ends; file index for initrd files.
    pub idx: u32,
    /// Read position in a file.
    pub pos: u64,
}

impl Fd {
    pub const CLOSED: Fd = Fd {
        kind: kind::CLOSED,
        idx: 0,
        pos: 0,
    };
    pub const CONSOLE: Fd = Fd {
        kind: kind::CONSOLE,
        idx: 0,
        pos: 0,
    };

    /// The address of the pipe this descriptor uses.
    pub fn pipe_va(&self) -> Option<u64> {
        matches!(self.kind, kind::PIPE_READ | kind::PIPE_WRITE)
            .then_some(PIPE_BASE + self.idx as u64 % MAX_PIPES * PIPE_BYTES)
    }

    pub fn pipe(&self) -> Option<&'static Pipe> {
        // SAFETY: a pipe descriptor's page is mapped (by pipe(), or by the
        // parent when it made the process) and is unmapped only when no
        // descriptor uses it and no transfer is under way (`close`); a
        // Pipe is all atomics and a cell, so other processes may write it.
        self.pipe_va().map(|va| unsafe { &*(va as *const Pipe) })
    }
}

static TABLE: Exclusive<[Fd; MAX_FDS]> = Exclusive::new([Fd::CLOSED; MAX_FDS]);

/// Held during a pipe transfer: a ring has one reader and one writer, so a
/// handler must not start a transfer under the one it interrupted.
static PIPE_IO: Exclusive<()> = Exclusive::new(());

/// Runs `f` on the table.
fn with_table<R>(f: impl FnOnce(&mut [Fd; MAX_FDS]) -> R) -> Result<R, Error> {
    TABLE.try_with(f).ok_or(Error::Busy)
}

/// Takes the descriptors this process started with (at start-up).
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub(crate) fn inherit() {
    if crate::process::has_pinfo() {
        let fds = crate::process::pinfo().fds;
        fds.iter().for_each(|f| crate::pipe::hold(f.pipe_va()));
        let _ = with_table(|t| *t = fds);
    }
}

/// A copy of the table (for a child).
pub fn snapshot() -> Result<[Fd; MAX_FDS], Error> {
    with_table(|t| *t)
}

/// The open descriptor `fd`.
pub fn get(fd: usize) -> Result<Fd, Error> {
    with_table(|t| t.get(fd).copied())?
        .filter(|f| f.kind != kind::CLOSED)
        .ok_or(Error::Invalid)
}

/// Moves open descriptor `fd` to position `pos` (for a file of the file
/// system: the position all descriptors duplicated from it share).
pub fn seek(fd: usize, pos: u64) -> Result<(), Error> {
    let f = get(fd)?;
    if f.kind == kind::FS_FILE {
        return crate::files::seek(f.idx as usize, pos).map_err(fs_error);
    }
    with_table(|t| match t.get_mut(fd) {
        Some(f) if f.kind != kind::CLOSED => {
            f.pos = pos;
            Ok(())
        }
        _ => Err(Error::Invalid),
    })?
}

/// Where the next read or write of `fd` goes.
pub fn position(fd: usize) -> Result<u64, Error> {
    let f = get(fd)?;
    match f.kind {
        kind::FS_FILE => crate::files::tell(f.idx as usize).map_err(fs_error),
        _ => Ok(f.pos),
    }
}

/// Reads into `buf`; 0 means end of file. Console reads wait for input.
pub fn read(fd: usize, buf: &mut [u8]) -> Result<usize, Error> {
    let f = get(fd)?;
    match f.kind {
        kind::CONSOLE => loop {
            let n = sys::console_read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            crate::time::sleep_ticks(1);
        },
        kind::PIPE_READ => {
            let p = f.pipe().ok_or(Error::Invalid)?;
            PIPE_IO.try_with(|_| p.read(buf)).ok_or(Error::Busy)
        }
        kind::INITRD_FILE => {
            let (_, data) = crate::initrd::files()
                .nth(f.idx as usize)
                .ok_or(Error::Invalid)?;
            let rest = data.get(f.pos as usize..).unwrap_or(&[]);
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            seek(fd, f.pos + n as u64)?;
            Ok(n)
        }
        kind::NULL => Ok(0),
        kind::FS_FILE => crate::files::read(f.idx as usize, buf).map_err(fs_error),
        _ => Err(Error::Invalid),
    }
}

/// A file-system error as a system-call error (details: `files`' calls).
pub fn fs_error(e: crate::fs::FsError) -> Error {
    use crate::fs::FsError as F;
    match e {
        F::NotFound => Error::NoEnv,
        F::Exists => Error::Taken,
        F::NoSpace | F::TooBig => Error::NoMem,
        F::Xn(exo_xn::Error::AccessDenied) => Error::Denied,
        F::Busy => Error::Busy,
        F::Xn(_) | F::Corrupt(_) => Error::Io,
        _ => Error::Invalid,
    }
}

/// Writes all of `buf`.
pub fn write(fd: usize, buf: &[u8]) -> Result<usize, Error> {
    let f = get(fd)?;
    match f.kind {
        kind::CONSOLE => {
            let mut rest = buf;
            while !rest.is_empty() {
                let n = sys::console_write(rest)?;
                rest = &rest[n..];
            }
            Ok(buf.len())
        }
        kind::PIPE_WRITE => {
            let p = f.pipe().ok_or(Error::Invalid)?;
            PIPE_IO.try_with(|_| p.write(buf)).ok_or(Error::Busy)?
        }
        kind::NULL => Ok(buf.len()),
        kind::FS_FILE => crate::files::write(f.idx as usize, buf).map_err(fs_error),
        _ => Err(Error::Invalid),
    }
}

/// Closes a descriptor (a pipe end drops its count).
pub fn close(fd: usize) {
    let taken = with_table(|t| t.get_mut(fd).map(|f| core::mem::replace(f, Fd::CLOSED)));
    if let Ok(Some(f)) = taken {
        if let Some(p) = f.pipe() {
            p.drop_end(f.kind == kind::PIPE_WRITE);
            // Our last end of it: the page and its capability go (unless
            // an interrupted transfer may still be using the page).
            if let Some(va) = f.pipe_va() {
                if crate::pipe::let_go(va) {
                    let _ = PIPE_IO.try_with(|_| crate::pipe::release(va));
                }
            }
        }
        if f.kind == kind::FS_FILE {
            crate::files::close(f.idx as usize);
        }
    }
}

/// Closes every descriptor (nothing if an upcall interrupted a change to
/// the table: its pipe ends then stay counted).
pub fn close_all() {
    for fd in 0..MAX_FDS {
        close(fd);
    }
}

/// Counts the pipe ends a child receives in `fds`.
pub(crate) fn share(fds: &[Fd; MAX_FDS]) {
    each_pipe_end(fds, Pipe::add_end);
}

/// Undoes `share` (the child did not start).
pub(crate) fn unshare(fds: &[Fd; MAX_FDS]) {
    each_pipe_end(fds, Pipe::drop_end);
}

fn each_pipe_end(fds: &[Fd; MAX_FDS], count: fn(&Pipe, bool)) {
    for f in fds {
        if let Some(p) = f.pipe() {
            count(p, f.kind == kind::PIPE_WRITE);
        }
    }
}

/// A second descriptor for what `fd` names, in the lowest free slot from
/// `min` on (`to`: exactly that slot, closing what it held), sharing the
/// pipe end, the console or the open file and its position.
pub fn dup(fd: usize, min: usize, to: Option<usize>) -> Result<usize, Error> {
    let f = get(fd)?;
    if let Some(t) = to {
        if t == fd {
            return Ok(t);
        }
        if t >= MAX_FDS {
            return Err(Error::Invalid);
        }
        close(t);
    }
    let slot = with_table(|t| {
        let s = match to {
            Some(s) => s,
            None => (min..MAX_FDS)
                .find(|&i| t[i].kind == kind::CLOSED)
                .ok_or(Error::NoMem)?,
        };
        t[s] = f;
        Ok(s)
    })??;
    if let Some(p) = f.pipe() {
        p.add_end(f.kind == kind::PIPE_WRITE);
        crate::pipe::hold(f.pipe_va());
    }
    if f.kind == kind::FS_FILE {
        crate::files::dup(f.idx as usize).map_err(fs_error)?;
    }
    Ok(slot)
}

/// Installs `f` in the lowest free descriptor.
pub fn install(f: Fd) -> Result<usize, Error> {
    with_table(|t| {
        let fd = t
            .iter()
            .position(|x| x.kind == kind::CLOSED)
            .ok_or(Error::NoMem)?;
        t[fd] = f;
        Ok(fd)
    })?
}
