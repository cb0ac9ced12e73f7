//! A posix-flavoured API over the library OS, for applications that want
//! familiar calls: files (programs under `/bin/` from the initrd, read-only;
//! every other path on the library file system on the XN disk, see
//! `crate::files`), pipes, processes, signals and time. Errors are the
//! kernel's and libOS's `Error`, except for the file-system calls, which
//! give the file system's own `FsError` (it names the reason).

use crate::fd::{self, kind, Fd};
use crate::sys::Error;
use crate::{files, initrd, process, signal, time};

pub type Pid = u32;

pub use crate::files::o;
pub use crate::fs::FsError;

/// Opens a file for reading; returns its descriptor.
pub fn open(path: &str) -> Result<usize, FsError> {
    open_with(path, o::READ)
}

/// Opens `path` with `flags` (`o::READ`, `WRITE`, `CREATE`, `TRUNC`,
/// `APPEND`); returns its descriptor.
pub fn open_with(path: &str, flags: u32) -> Result<usize, FsError> {
    if files::in_initrd(path) {
        if flags & !o::READ != 0 {
            return Err(FsError::Invalid); // the initrd is read-only
        }
        let want = path.trim_start_matches('/');
        let idx = initrd::files()
            .position(|(name, _)| name == want)
            .ok_or(FsError::NotFound)?;
        return fd::install(Fd {
            kind: kind::INITRD_FILE,
            idx: idx as u32,
            pos: 0,
        })
        .map_err(|_| FsError::NoSpace);
    }
    let i = files::open(path, flags)?;
    fd::install(Fd {
        kind: kind::FS_FILE,
        idx: i as u32,
        pos: 0,
    })
    .map_err(|_| {
        files::close(i);
        FsError::NoSpace
    })
}

/// Moves a file descriptor's position; returns the new one.
pub fn lseek(fd: usize, pos: u64) -> Result<u64, Error> {
    fd::seek(fd, pos)?;
    Ok(pos)
}

/// Makes a file's data and its directory entry durable.
pub fn fsync(fd: usize) -> Result<(), FsError> {
    let f = match fd::get(fd) {
        Ok(f) => f,
        Err(Error::Busy) => return Err(FsError::Busy),
        Err(_) => return Err(FsError::Invalid),
    };
    if f.kind != kind::FS_FILE {
        return Err(FsError::Invalid);
    }
    files::fsync(f.idx as usize)
}

pub fn mkdir(path: &str) -> Result<(), FsError> {
    files::mkdir(path)
}

pub fn readdir(path: &str) -> Result<alloc::vec::Vec<crate::fs::cffs::DirEntry>, FsError> {
    files::readdir(path)
}

pub fn unlink(path: &str) -> Result<(), FsError> {
    files::unlink(path)
}

pub fn rmdir(path: &str) -> Result<(), FsError> {
    files::rmdir(path)
}

pub fn rename(from: &str, to: &str) -> Result<(), FsError> {
    files::rename(from, to)
}

pub fn stat(path: &str) -> Result<crate::fs::cffs::Stat, FsError> {
    files::stat(path)
}

/// Writes every file-system change of this process to disk.
pub fn sync() -> Result<(), FsError> {
    files::sync()
}

pub fn read(fd: usize, buf: &mut [u8]) -> Result<usize, Error> {
    fd::read(fd, buf)
}

pub fn write(fd: usize, buf: &[u8]) -> Result<usize, Error> {
    fd::write(fd, buf)
}

pub fn close(fd: usize) {
    fd::close(fd)
}

/// Creates a pipe: `(read end, write end)` descriptors.
pub fn pipe() -> Result<(usize, usize), Error> {
    let (r, w) = crate::pipe::pipe()?;
    Ok((fd::install(r)?, fd::install(w)?))
}

pub fn fork() -> Result<Pid, Error> {
    crate::fork::fork()
}

/// Starts `path` with `argv` and this process's descriptors (posix_spawn).
pub fn spawn(path: &str, argv: &[&str]) -> Result<Pid, Error> {
    process::spawn(path, argv, &fd::snapshot()?)
}

pub fn waitpid(pid: Pid) -> u8 {
    process::wait(pid)
}

pub fn exit(status: u8) -> ! {
    process::exit(status)
}

pub fn getpid() -> Pid {
    process::pid()
}

pub fn getppid() -> Pid {
    process::pinfo().ppid
}

pub fn kill(pid: Pid, sig: u32) -> Result<(), Error> {
    signal::kill(pid, sig)
}

/// Sleeps at least `ms` milliseconds (timer-tick granularity).
pub fn sleep_ms(ms: u64) {
    let hz = crate::info::sysinfo().hz.max(1);
    time::sleep_ticks((ms * hz).div_ceil(1000).max(1));
}

/// Milliseconds since boot.
pub fn uptime_ms() -> u64 {
    time::uptime_ms()
}
