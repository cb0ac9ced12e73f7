//! Descriptors: reading and writing them (the console, pipes, files),
//! duplicating, polling and closing them, and close-on-exec, kept here.
//! The descriptors are the libOS's (`crate::fd`); what paths name is in
//! `paths`, directory listings in `dirs`.

use super::nr::*;
use super::paths::{O_RDWR, O_WRONLY};
use super::user::{input, output};
use crate::fd::{self, kind, Fd};
use crate::fs::FsError;
use crate::sys;
use core::sync::atomic::{AtomicU64, Ordering};

/// Descriptors to close at exec, one bit each.
static CLOEXEC: AtomicU64 = AtomicU64::new(0);

pub(super) fn set_cloexec(fd: usize, on: bool) {
    let bit = 1u64 << (fd % 64);
    if on {
        CLOEXEC.fetch_or(bit, Ordering::Relaxed);
    } else {
        CLOEXEC.fetch_and(!bit, Ordering::Relaxed);
    }
}

/// Closes the descriptors marked close-on-exec (an exec is under way).
pub fn close_on_exec() {
    let marked = CLOEXEC.swap(0, Ordering::Relaxed);
    (0..fd::MAX_FDS)
        .filter(|i| marked & 1 << i != 0)
        .for_each(fd::close);
}

/// Set once the console's input has ended (Ctrl-D, or the end of what the
/// VMM was given): every later read returns end of file, as from a pipe.
static CONSOLE_ENDED: AtomicU64 = AtomicU64::new(0);
const END_OF_INPUT: u8 = 4;

pub fn read(fd: u64, buf: u64, len: u64) -> i64 {
    let Some(out) = output(buf, len) else {
        return -EFAULT;
    };
    let console = fd::get(fd as usize).is_ok_and(|f| f.kind == kind::CONSOLE);
    if console && CONSOLE_ENDED.load(Ordering::Relaxed) != 0 {
        return 0;
    }
    if console && super::tty::is_terminal() {
        let raw = |b: &mut [u8]| console_read(b).map_err(|_| -EINTR);
        return super::tty::read(out, &raw).map_or_else(|e| e, |n| n as i64);
    }
    let got = if console {
        console_read(out)
    } else {
        fd::read(fd as usize, out)
    };
    match got {
        Err(sys::Error::Busy) if console => -EINTR,
        Ok(n) if console => match out[..n].iter().position(|&b| b == END_OF_INPUT) {
            Some(end) => {
                CONSOLE_ENDED.store(1, Ordering::Relaxed);
                end as i64
            }
            None => n as i64,
        },
        Ok(n) => n as i64,
        Err(e) => errno(e),
    }
}

pub fn write(fd: u64, buf: u64, len: u64) -> i64 {
    let Some(data) = input(buf, len) else {
        return -EFAULT;
    };
    let pipe = fd::get(fd as usize).is_ok_and(|f| f.kind == kind::PIPE_WRITE);
    match fd::write(fd as usize, data) {
        Ok(n) => n as i64,
        // A pipe with no reader left: SIGPIPE, whose default ends the writer.
        Err(sys::Error::Busy) if pipe => super::signal::broken_pipe(),
        Err(e) => errno(e),
    }
}

/// A console byte `poll` read ahead to see that input was there (bit 8
/// set), handed out by the next read.
static AHEAD: AtomicU64 = AtomicU64::new(0);
const HAVE_AHEAD: u64 = 1 << 8;

/// Whether console input is waiting (read ahead, kept for the next read).
fn console_ready() -> bool {
    if AHEAD.load(Ordering::Relaxed) & HAVE_AHEAD != 0 || CONSOLE_ENDED.load(Ordering::Relaxed) != 0
    {
        return true;
    }
    let mut b = [0u8; 1];
    match sys::console_read(&mut b) {
        Ok(1) => {
            AHEAD.store(HAVE_AHEAD | b[0] as u64, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

/// Waits for console input, one tick at a time: a signal ends the wait
/// (reported as Busy: EINTR).
fn console_read(out: &mut [u8]) -> Result<usize, sys::Error> {
    if out.is_empty() {
        return Ok(0);
    }
    let ahead = AHEAD.swap(0, Ordering::Relaxed);
    if ahead & HAVE_AHEAD != 0 {
        out[0] = ahead as u8;
        return Ok(1 + sys::console_read(&mut out[1..]).unwrap_or(0));
    }
    loop {
        let n = sys::console_read(out)?;
        if n > 0 || out.is_empty() {
            return Ok(n);
        }
        if super::signal::interrupted() {
            return Err(sys::Error::Busy);
        }
        crate::time::sleep_ticks(1);
    }
}

const POLLIN: u16 = 1;
const POLLOUT: u16 = 4;
const POLLHUP: u16 = 0x10;
const POLLNVAL: u16 = 0x20;

/// What `fd` is ready for now, as poll's revents for `events`.
fn ready(fd: i32, events: u16) -> u16 {
    if fd < 0 {
        return 0;
    }
    let Ok(f) = fd::get(fd as usize) else {
        return POLLNVAL;
    };
    let (can_read, can_write, hup) = match f.kind {
        kind::CONSOLE => (events & POLLIN != 0 && console_ready(), true, false),
        kind::PIPE_READ | kind::PIPE_WRITE => {
            let p = f.pipe();
            let w = f.kind == kind::PIPE_WRITE;
            (
                !w && p.is_some_and(|p| p.can_read()),
                w && p.is_some_and(|p| p.can_write()),
                p.is_some_and(|p| p.hung_up(w)),
            )
        }
        _ => (true, true, false),
    };
    let mut r = 0;
    if can_read {
        r |= POLLIN;
    }
    if can_write {
        r |= POLLOUT;
    }
    r & events | if hup { POLLHUP } else { 0 }
}

/// poll(fds, nfds, timeout ms; negative: forever): waits a tick at a
/// time until a descriptor is ready, the time is up or a signal comes.
pub fn poll(fds: u64, n: u64, timeout_ms: i64) -> i64 {
    if n > fd::MAX_FDS as u64 * 4 {
        return -EINVAL;
    }
    if output(fds, n * 8).is_none() {
        return -EFAULT;
    }
    let hz = crate::info::sysinfo().hz.max(1);
    let until = (timeout_ms >= 0).then(|| sys::ticks() + (timeout_ms as u64 * hz).div_ceil(1000));
    loop {
        let Some(v) = output(fds, n * 8) else {
            return -EFAULT;
        };
        let mut count = 0;
        for e in v.chunks_exact_mut(8) {
            let fd = i32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let events = u16::from_le_bytes([e[4], e[5]]);
            let r = ready(fd, events);
            e[6..8].copy_from_slice(&r.to_le_bytes());
            count += (r != 0) as i64;
        }
        if count > 0 || until.is_some_and(|u| sys::ticks() >= u) {
            return count;
        }
        if super::signal::interrupted() {
            return -EINTR;
        }
        crate::time::sleep_ticks(1);
    }
}

/// select and pselect6: the descriptors (below 64) set in `read` and
/// `write` that are ready, waiting as poll does (`timeout_ms` negative:
/// forever); exceptional conditions never happen here.
pub fn select(n: u64, read: u64, write: u64, except: u64, timeout_ms: i64) -> i64 {
    if n > 1024 {
        return -EINVAL;
    }
    let word = |p: u64| {
        if p == 0 {
            Some(0)
        } else {
            super::user::word(p)
        }
    };
    let (Some(want_r), Some(want_w)) = (word(read), word(write)) else {
        return -EFAULT;
    };
    let limit = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let (want_r, want_w) = (want_r & limit, want_w & limit);
    let hz = crate::info::sysinfo().hz.max(1);
    let until = (timeout_ms >= 0).then(|| sys::ticks() + (timeout_ms as u64 * hz).div_ceil(1000));
    loop {
        let (mut got_r, mut got_w) = (0u64, 0u64);
        for fd in 0..64 {
            let bit = 1u64 << fd;
            if (want_r | want_w) & bit == 0 {
                continue;
            }
            let events = if want_r & bit != 0 { POLLIN } else { 0 }
                | if want_w & bit != 0 { POLLOUT } else { 0 };
            let r = ready(fd, events);
            if r & POLLNVAL != 0 {
                return -EBADF;
            }
            if r & (POLLIN | POLLHUP) != 0 && want_r & bit != 0 {
                got_r |= bit;
            }
            if r & POLLOUT != 0 && want_w & bit != 0 {
                got_w |= bit;
            }
        }
        let count = (got_r.count_ones() + got_w.count_ones()) as i64;
        if count > 0 || until.is_some_and(|u| sys::ticks() >= u) {
            for (p, v) in [(read, got_r), (write, got_w), (except, 0)] {
                if p != 0 && !super::user::put(p, &v.to_le_bytes()) {
                    return -EFAULT;
                }
            }
            return count;
        }
        if super::signal::interrupted() {
            return -EINTR;
        }
        crate::time::sleep_ticks(1);
    }
}

/// A `struct timeval` (select) or `struct timespec` (pselect6) in ms;
/// null: -1 (forever).
pub fn timeout_ms(p: u64, nanos: bool) -> Result<i64, i64> {
    if p == 0 {
        return Ok(-1);
    }
    match (super::user::word(p), super::user::word(p + 8)) {
        (Some(s), Some(f)) => {
            let frac = if nanos { f / 1_000_000 } else { f / 1000 };
            Ok((s.min(1 << 40) * 1000 + frac) as i64)
        }
        _ => Err(-EFAULT),
    }
}

/// ppoll: poll with a `struct timespec` (null: forever); the mask is not
/// swapped.
pub fn ppoll(fds: u64, n: u64, ts: u64) -> i64 {
    let ms = if ts == 0 {
        -1
    } else {
        match (super::user::word(ts), super::user::word(ts + 8)) {
            (Some(s), Some(ns)) => (s.min(1 << 40) * 1000 + ns / 1_000_000) as i64,
            _ => return -EFAULT,
        }
    };
    poll(fds, n, ms)
}

/// sendfile: a copy through this handler (no offset pointer: from the
/// input's position).
pub fn sendfile(out_fd: u64, in_fd: u64, off: u64, count: u64) -> i64 {
    if off != 0 {
        return -EINVAL; // then the caller copies itself
    }
    let mut buf = [0u8; 4096];
    let mut done = 0u64;
    while done < count {
        let want = (count - done).min(buf.len() as u64) as usize;
        let n = match fd::read(in_fd as usize, &mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return errno(e),
            Err(_) => break,
        };
        if let Err(e) = fd::write(out_fd as usize, &buf[..n]) {
            return if done > 0 { done as i64 } else { errno(e) };
        }
        done += n as u64;
        if n < want {
            break;
        }
    }
    done as i64
}

/// pread: a read at `off` that leaves the position as it was.
pub fn pread(fd: u64, buf: u64, len: u64, off: u64) -> i64 {
    let Ok(was) = fd::position(fd as usize) else {
        return -EBADF;
    };
    if fd::seek(fd as usize, off).is_err() {
        return -ESPIPE;
    }
    let n = read(fd, buf, len);
    let _ = fd::seek(fd as usize, was);
    n
}

/// Whether `fd` is the console.
pub fn is_console(fd: u64) -> bool {
    fd::get(fd as usize).is_ok_and(|f| f.kind == kind::CONSOLE)
}

/// A libOS error as an errno.
fn errno(e: sys::Error) -> i64 {
    match e {
        sys::Error::Invalid => -EBADF,
        sys::Error::NoMem => -ENOSPC,
        sys::Error::Denied => -EACCES,
        sys::Error::NoEnv => -ENOENT,
        sys::Error::Taken => -EEXIST,
        sys::Error::Busy => -EAGAIN,
        _ => -EIO,
    }
}

/// A file-system error as an errno.
pub(super) fn fs_errno(e: FsError) -> i64 {
    match e {
        FsError::NotFound | FsError::Xn(exo_xn::Error::NoSuchName) => -ENOENT,
        FsError::Exists => -EEXIST,
        FsError::NoSpace | FsError::TooBig => -ENOSPC,
        FsError::IsDir => -EISDIR,
        FsError::NotDir => -ENOTDIR,
        FsError::NotEmpty => -ENOTEMPTY,
        FsError::Busy => -EAGAIN,
        FsError::Xn(exo_xn::Error::AccessDenied) => -EACCES,
        FsError::Invalid => -EINVAL,
        _ => -EIO,
    }
}

/// readv/writev: one call per `struct iovec { base, len }`.
pub fn vectored(fd: u64, iov: u64, count: u64, each: fn(u64, u64, u64) -> i64) -> i64 {
    let Some(v) = input(iov, count.saturating_mul(16)).filter(|_| count <= 1024) else {
        return -EFAULT;
    };
    let mut total = 0;
    for e in v.chunks_exact(16) {
        let word = |i: usize| u64::from_le_bytes(e[i..i + 8].try_into().unwrap_or([0; 8]));
        let r = each(fd, word(0), word(8));
        if r < 0 {
            return if total > 0 { total } else { r };
        }
        total += r;
        if (r as u64) < word(8) {
            break;
        }
    }
    total
}

pub fn close(fd: u64) -> i64 {
    match fd::get(fd as usize) {
        Ok(f) => {
            if f.kind == kind::DIR {
                super::dirs::closed(fd as usize);
            }
            fd::close(fd as usize);
            set_cloexec(fd as usize, false);
            0
        }
        Err(_) => -EBADF,
    }
}

const SEEK_SET: u64 = 0;
const SEEK_CUR: u64 = 1;
const SEEK_END: u64 = 2;

pub fn lseek(fd: u64, off: i64, whence: u64) -> i64 {
    let Ok(f) = fd::get(fd as usize) else {
        return -EBADF;
    };
    if matches!(f.kind, kind::CONSOLE | kind::NULL) || f.pipe_va().is_some() {
        return -ESPIPE;
    }
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => match fd::position(fd as usize) {
            Ok(p) => p as i64,
            Err(_) => return -EBADF,
        },
        SEEK_END => match size_of(&f) {
            Ok(s) => s as i64,
            Err(e) => return e,
        },
        _ => return -EINVAL,
    };
    let to = base.saturating_add(off);
    if to < 0 {
        return -EINVAL;
    }
    fd::seek(fd as usize, to as u64).map_or(-EBADF, |()| to)
}

pub(super) fn size_of(f: &Fd) -> Result<u64, i64> {
    match f.kind {
        kind::INITRD_FILE => crate::initrd::files()
            .nth(f.idx as usize)
            .map(|(_, d)| d.len() as u64)
            .ok_or(-EBADF),
        kind::FS_FILE => crate::files::fstat(f.idx as usize)
            .map(|s| s.size)
            .map_err(fs_errno),
        _ => Ok(0),
    }
}

pub fn dup(fd: u64, min: u64, to: Option<u64>, cloexec: bool) -> i64 {
    if fd::get(fd as usize).is_err() || to.is_some_and(|t| t >= fd::MAX_FDS as u64) {
        return -EBADF;
    }
    match fd::dup(fd as usize, min as usize, to.map(|t| t as usize)) {
        Ok(n) => {
            set_cloexec(n, cloexec);
            n as i64
        }
        Err(sys::Error::NoMem) => -EMFILE,
        Err(_) => -EBADF,
    }
}

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_DUPFD_CLOEXEC: u64 = 1030;
const FD_CLOEXEC: u64 = 1;

pub fn fcntl(fd: u64, cmd: u64, arg: u64) -> i64 {
    let Ok(f) = fd::get(fd as usize) else {
        return -EBADF;
    };
    match cmd {
        F_DUPFD => dup(fd, arg, None, false),
        F_DUPFD_CLOEXEC => dup(fd, arg, None, true),
        F_GETFD => (CLOEXEC.load(Ordering::Relaxed) >> fd & 1) as i64,
        F_SETFD => {
            set_cloexec(fd as usize, arg & FD_CLOEXEC != 0);
            0
        }
        F_SETFL => 0,
        F_GETFL => match f.kind {
            kind::PIPE_READ => 0,
            kind::PIPE_WRITE => O_WRONLY as i64,
            _ => O_RDWR as i64,
        },
        _ => -EINVAL,
    }
}

pub fn pipe(fds: u64, flags: u64) -> i64 {
    if output(fds, 8).is_none() {
        return -EFAULT;
    }
    let free = fd::snapshot().map_or(0, |t| t.iter().filter(|f| f.kind == kind::CLOSED).count());
    if free < 2 {
        return -EMFILE;
    }
    let Ok((r, w)) = crate::pipe::pipe() else {
        return -ENFILE;
    };
    // Two slots are free: neither install can fail (one thread).
    let (Ok(a), Ok(b)) = (fd::install(r), fd::install(w)) else {
        return -EMFILE;
    };
    for n in [a, b] {
        set_cloexec(n, flags & O_CLOEXEC != 0);
    }
    let words = [(a as u32).to_le_bytes(), (b as u32).to_le_bytes()].concat();
    super::user::put(fds, &words);
    0
}

pub fn fsync(fd: u64) -> i64 {
    match fd::get(fd as usize) {
        Ok(f) if f.kind == kind::FS_FILE => {
            crate::files::fsync(f.idx as usize).map_or_else(fs_errno, |()| 0)
        }
        Ok(_) => 0,
        Err(_) => -EBADF,
    }
}
