//! Descriptors and files: the console, pipes, `/dev/null`, the initrd's
//! programs (read-only) and the library file system's files, named by
//! paths relative to the working directory. Descriptors are the libOS's
//! (`crate::fd`); close-on-exec is kept here.

use super::nr::*;
use super::user::{c_string, input, output};
use crate::fd::{self, kind, Fd};
use crate::files::o;
use crate::fs::cffs::Kind;
use crate::fs::FsError;
use crate::sys;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// Descriptors to close at exec, one bit each.
static CLOEXEC: AtomicU64 = AtomicU64::new(0);

fn set_cloexec(fd: usize, on: bool) {
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
fn fs_errno(e: FsError) -> i64 {
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
                let _ = DIRS.try_with(|d| d[fd as usize] = None);
            }
            fd::close(fd as usize);
            set_cloexec(fd as usize, false);
            0
        }
        Err(_) => -EBADF,
    }
}

/// The working directory (absolute, no trailing slash but for "/").
static CWD: crate::cell::Exclusive<String> = crate::cell::Exclusive::new(String::new());

pub fn cwd() -> String {
    CWD.try_with(|c| {
        if c.is_empty() {
            String::from("/")
        } else {
            c.clone()
        }
    })
    .unwrap_or_else(|| String::from("/"))
}

pub fn set_cwd(abs: &str) {
    let _ = CWD.try_with(|c| *c = String::from(abs));
}

/// `path` made absolute against the working directory, with `.`, `..`
/// and repeated slashes resolved.
pub fn absolute(path: &str) -> String {
    let base = if path.starts_with('/') {
        String::new()
    } else {
        cwd()
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in base.split('/').chain(path.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// What a path names.
enum Node {
    Null,
    Console,
    /// An initrd file (its index and bytes).
    Initrd(usize, &'static [u8]),
    /// A directory holding only initrd files (`/bin`) or device nodes.
    Synthetic,
    /// Anything else: the library file system.
    Fs(String),
}

fn node(path: &str) -> Node {
    let abs = absolute(path);
    match abs.as_str() {
        "/dev/null" => Node::Null,
        "/dev/tty" | "/dev/console" | "/dev/stdin" | "/dev/stdout" | "/dev/stderr" => Node::Console,
        "/bin" | "/dev" | "/proc" => Node::Synthetic,
        a if crate::files::in_initrd(a) => {
            let want = a.trim_start_matches('/');
            match crate::initrd::files()
                .enumerate()
                .find(|(_, (n, _))| *n == want)
            {
                Some((i, (_, data))) => Node::Initrd(i, data),
                None => Node::Fs(abs),
            }
        }
        _ => Node::Fs(abs),
    }
}

/// The bytes of the program file at `path` (initrd or file system).
pub fn program_bytes(path: &str) -> Result<alloc::borrow::Cow<'static, [u8]>, i64> {
    match node(path) {
        Node::Initrd(_, data) => Ok(alloc::borrow::Cow::Borrowed(data)),
        Node::Fs(p) => {
            let i = crate::files::open(&p, o::READ).map_err(fs_errno)?;
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            let r = loop {
                match crate::files::read(i, &mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                    Err(e) => break Err(fs_errno(e)),
                }
            };
            crate::files::close(i);
            r.map(|()| alloc::borrow::Cow::Owned(all))
        }
        _ => Err(-EACCES),
    }
}

const O_ACCMODE: u64 = 3;
const O_WRONLY: u64 = 1;
const O_RDWR: u64 = 2;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_DIRECTORY: u64 = 0o200000;

pub fn open(path: u64, flags: u64) -> i64 {
    let Some(name) = c_string(path) else {
        return -EFAULT;
    };
    let write = flags & O_ACCMODE != 0;
    let f = match node(name) {
        Node::Null => Fd {
            kind: kind::NULL,
            idx: 0,
            pos: 0,
        },
        Node::Console => Fd::CONSOLE,
        Node::Initrd(..) | Node::Synthetic if write => return -EROFS,
        Node::Initrd(i, _) if flags & O_DIRECTORY == 0 => Fd {
            kind: kind::INITRD_FILE,
            idx: i as u32,
            pos: 0,
        },
        Node::Initrd(..) => return -ENOTDIR,
        Node::Synthetic => return open_dir(name),
        Node::Fs(p) if p == "/" || crate::files::stat(&p).is_ok_and(|s| s.kind == Kind::Dir) => {
            if write {
                return -EISDIR;
            }
            return open_dir(name);
        }
        Node::Fs(_) if flags & O_DIRECTORY != 0 && flags & O_CREAT == 0 => return -ENOTDIR,
        Node::Fs(p) => {
            if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL && crate::files::stat(&p).is_ok() {
                return -EEXIST;
            }
            let mut of = match flags & O_ACCMODE {
                O_WRONLY => o::WRITE,
                O_RDWR => o::READ | o::WRITE,
                _ => o::READ,
            };
            for (bit, f) in [
                (O_CREAT, o::CREATE),
                (O_TRUNC, o::TRUNC),
                (O_APPEND, o::APPEND),
            ] {
                if flags & bit != 0 {
                    of |= f;
                }
            }
            match crate::files::open(&p, of) {
                Ok(i) => Fd {
                    kind: kind::FS_FILE,
                    idx: i as u32,
                    pos: 0,
                },
                Err(e) => return fs_errno(e),
            }
        }
    };
    match fd::install(f) {
        Ok(n) => {
            set_cloexec(n, flags & O_CLOEXEC != 0);
            n as i64
        }
        Err(_) => {
            if f.kind == kind::FS_FILE {
                crate::files::close(f.idx as usize);
            }
            -EMFILE
        }
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

fn size_of(f: &Fd) -> Result<u64, i64> {
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

pub fn getcwd(buf: u64, size: u64) -> i64 {
    let c = cwd();
    let len = c.len() as u64 + 1;
    if size < len {
        return -ERANGE;
    }
    match output(buf, len) {
        Some(o) => {
            o[..c.len()].copy_from_slice(c.as_bytes());
            o[c.len()] = 0;
            len as i64
        }
        None => -EFAULT,
    }
}

pub fn chdir(path: u64) -> i64 {
    let Some(name) = c_string(path) else {
        return -EFAULT;
    };
    let abs = absolute(name);
    let ok = match node(&abs) {
        Node::Synthetic => Ok(()),
        Node::Fs(p) if p == "/" => Ok(()),
        Node::Fs(p) => match crate::files::stat(&p) {
            Ok(s) if s.kind == Kind::Dir => Ok(()),
            Ok(_) => Err(-ENOTDIR),
            Err(e) => Err(fs_errno(e)),
        },
        _ => Err(-ENOTDIR),
    };
    match ok {
        Ok(()) => {
            let _ = CWD.try_with(|c| *c = abs);
            0
        }
        Err(e) => e,
    }
}

/// The path of each directory descriptor, by descriptor.
static DIRS: crate::cell::Exclusive<[Option<String>; fd::MAX_FDS]> =
    crate::cell::Exclusive::new([const { None }; fd::MAX_FDS]);

fn open_dir(path: &str) -> i64 {
    let abs = absolute(path);
    let f = Fd {
        kind: kind::DIR,
        idx: 0,
        pos: 0,
    };
    match fd::install(f) {
        Ok(n) => {
            let _ = DIRS.try_with(|d| d[n] = Some(abs));
            set_cloexec(n, true);
            n as i64
        }
        Err(_) => -EMFILE,
    }
}

const DT_CHR: u8 = 2;
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;

/// The entries of directory `path`: name, inode number, type.
fn list(path: &str) -> Result<Vec<(String, u64, u8)>, i64> {
    let mut v = alloc::vec![
        (String::from("."), 2, DT_DIR),
        (String::from(".."), 2, DT_DIR)
    ];
    match path {
        "/bin" => {
            for (i, (name, _)) in crate::initrd::files().enumerate() {
                if let Some(n) = name.strip_prefix("bin/").filter(|n| !n.contains('/')) {
                    v.push((String::from(n), 16 + i as u64, DT_REG));
                }
            }
        }
        "/dev" => {
            for n in ["null", "tty", "console"] {
                v.push((String::from(n), 1, DT_CHR));
            }
        }
        "/proc" => {}
        _ => {
            if path == "/" {
                for n in ["bin", "dev"] {
                    v.push((String::from(n), 2, DT_DIR));
                }
            }
            let entries = match crate::files::readdir(path) {
                Ok(e) => e,
                Err(_) if path == "/" => alloc::vec::Vec::new(), // no disk
                Err(e) => return Err(fs_errno(e)),
            };
            for (i, e) in entries.into_iter().enumerate() {
                let t = if e.kind == Kind::Dir { DT_DIR } else { DT_REG };
                v.push((e.name, 4096 + i as u64, t));
            }
        }
    }
    Ok(v)
}

/// getdents64: the directory's entries from its position on, as many
/// `struct linux_dirent64` as fit.
pub fn getdents64(fd: u64, buf: u64, count: u64) -> i64 {
    let Ok(f) = fd::get(fd as usize) else {
        return -EBADF;
    };
    if f.kind != kind::DIR {
        return -ENOTDIR;
    }
    let Some(path) = DIRS.try_with(|d| d[fd as usize].clone()).flatten() else {
        return -EBADF;
    };
    let Some(out) = output(buf, count) else {
        return -EFAULT;
    };
    let entries = match list(&path) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let mut at = 0usize;
    let mut next = f.pos as usize;
    for (name, ino, t) in entries.iter().skip(next) {
        let len = (19 + name.len() + 1).next_multiple_of(8);
        if at + len > out.len() {
            if at == 0 {
                return -EINVAL;
            }
            break;
        }
        let e = &mut out[at..at + len];
        e.fill(0);
        e[..8].copy_from_slice(&ino.to_le_bytes());
        e[8..16].copy_from_slice(&((next + 1) as u64).to_le_bytes());
        e[16..18].copy_from_slice(&(len as u16).to_le_bytes());
        e[18] = *t;
        e[19..19 + name.len()].copy_from_slice(name.as_bytes());
        at += len;
        next += 1;
    }
    let _ = fd::seek(fd as usize, next as u64);
    at as i64
}

const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// What `struct stat` says of something.
struct Meta {
    mode: u32,
    size: u64,
    ino: u64,
}

fn meta_of_node(n: Node) -> Result<Meta, i64> {
    Ok(match n {
        Node::Null | Node::Console => Meta {
            mode: S_IFCHR | 0o666,
            size: 0,
            ino: 1,
        },
        Node::Synthetic => Meta {
            mode: S_IFDIR | 0o755,
            size: 0,
            ino: 2,
        },
        Node::Initrd(i, d) => Meta {
            mode: S_IFREG | 0o755,
            size: d.len() as u64,
            ino: 16 + i as u64,
        },
        Node::Fs(p) if p == "/" => Meta {
            mode: S_IFDIR | 0o755,
            size: 0,
            ino: 3,
        },
        Node::Fs(p) => {
            let s = crate::files::stat(&p).map_err(fs_errno)?;
            fs_meta(&s)
        }
    })
}

fn fs_meta(s: &crate::fs::cffs::Stat) -> Meta {
    let kind = if s.kind == Kind::Dir {
        S_IFDIR
    } else {
        S_IFREG
    };
    let perm = if s.mode & 0o777 != 0 {
        s.mode & 0o777
    } else {
        0o644
    };
    Meta {
        mode: kind | perm,
        size: s.size,
        ino: 4096 + s.number,
    }
}

fn fd_meta(fd: u64) -> Result<Meta, i64> {
    let f = fd::get(fd as usize).map_err(|_| -EBADF)?;
    Ok(match f.kind {
        kind::PIPE_READ | kind::PIPE_WRITE => Meta {
            mode: S_IFIFO | 0o600,
            size: 0,
            ino: 8 + f.idx as u64,
        },
        kind::INITRD_FILE => Meta {
            mode: S_IFREG | 0o755,
            size: size_of(&f)?,
            ino: 16 + f.idx as u64,
        },
        kind::FS_FILE => fs_meta(&crate::files::fstat(f.idx as usize).map_err(fs_errno)?),
        kind::DIR => {
            let path = DIRS.try_with(|d| d[fd as usize].clone()).flatten();
            meta_of_node(node(path.as_deref().unwrap_or("/")))?
        }
        _ => Meta {
            mode: S_IFCHR | 0o620,
            size: 0,
            ino: 1,
        },
    })
}

/// Fills a `struct stat` (x86-64 layout, 144 bytes).
fn put_stat(buf: u64, m: Result<Meta, i64>) -> i64 {
    let m = match m {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(st) = output(buf, 144) else {
        return -EFAULT;
    };
    st.fill(0);
    st[8..16].copy_from_slice(&m.ino.to_le_bytes());
    st[16..24].copy_from_slice(&1u64.to_le_bytes()); // st_nlink
    st[24..28].copy_from_slice(&m.mode.to_le_bytes());
    st[48..56].copy_from_slice(&m.size.to_le_bytes());
    st[56..64].copy_from_slice(&4096u64.to_le_bytes()); // st_blksize
    st[64..72].copy_from_slice(&m.size.div_ceil(512).to_le_bytes()); // st_blocks
    0
}

pub fn fstat(fd: u64, buf: u64) -> i64 {
    put_stat(buf, fd_meta(fd))
}

pub fn stat(path: u64, buf: u64) -> i64 {
    match c_string(path) {
        Some(p) => put_stat(buf, meta_of_node(node(p))),
        None => -EFAULT,
    }
}

/// (an int: it arrives as 0xffff_ff9c)
const AT_FDCWD: i64 = -100;
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// `*at` calls: paths relative to the working directory only.
pub fn at_cwd(dirfd: u64, path: u64) -> bool {
    dirfd as i32 as i64 == AT_FDCWD || c_string(path).is_some_and(|p| p.starts_with('/'))
}

pub fn newfstatat(dirfd: u64, path: u64, buf: u64, flags: u64) -> i64 {
    if flags & AT_EMPTY_PATH != 0 && c_string(path) == Some("") {
        return fstat(dirfd, buf);
    }
    if !at_cwd(dirfd, path) {
        return -ENOSYS;
    }
    stat(path, buf)
}

pub fn access(path: u64) -> i64 {
    match c_string(path) {
        Some(p) => meta_of_node(node(p)).map_or_else(|e| e, |_| 0),
        None => -EFAULT,
    }
}

/// mkdir, rmdir, unlink: one path on the file system.
pub fn path_op(path: u64, op: fn(&str) -> Result<(), FsError>) -> i64 {
    let Some(p) = c_string(path) else {
        return -EFAULT;
    };
    match node(p) {
        Node::Fs(p) => op(&p).map_or_else(fs_errno, |()| 0),
        _ => -EROFS,
    }
}

pub fn rename(from: u64, to: u64) -> i64 {
    let (Some(a), Some(b)) = (c_string(from), c_string(to)) else {
        return -EFAULT;
    };
    match (node(a), node(b)) {
        (Node::Fs(a), Node::Fs(b)) => crate::files::rename(&a, &b).map_or_else(fs_errno, |()| 0),
        _ => -EROFS,
    }
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
