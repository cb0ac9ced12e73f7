//! A posix-flavoured API over the library OS, for applications that want
//! familiar calls: files (the initrd, read-only, for now), pipes, processes,
//! signals and time. Errors are the kernel's and libOS's `Error`.

use crate::fd::{self, kind, Fd};
use crate::sys::Error;
use crate::{initrd, process, signal, time};

pub type Pid = u32;

/// Opens an initrd file for reading; returns its descriptor.
pub fn open(path: &str) -> Result<usize, Error> {
    let want = path.trim_start_matches('/');
    let idx = initrd::files()
        .position(|(name, _)| name == want)
        .ok_or(Error::NoEnv)?;
    fd::install(Fd {
        kind: kind::INITRD_FILE,
        idx: idx as u32,
        pos: 0,
    })
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
    process::spawn(path, argv, &process::pinfo().fds)
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
