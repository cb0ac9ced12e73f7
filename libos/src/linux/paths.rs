//! Paths: the working directory, what a path names (`/dev/null`, the
//! console, the initrd's programs under `/bin`, or a file or directory of
//! the library file system on the XN disk), and the calls that take paths:
//! open, stat and its kin, mkdir, unlink, rename, chdir.

use super::io::{fs_errno, set_cloexec, size_of};
use super::nr::*;
use super::user::{c_string, output};
use crate::fd::{self, kind, Fd};
use crate::files::o;
use crate::fs::cffs::Kind;
use crate::fs::FsError;
use alloc::string::String;
use alloc::vec::Vec;

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
pub(super) enum Node {
    Null,
    Console,
    /// An initrd file (its index and bytes).
    Initrd(usize, &'static [u8]),
    /// A directory holding only initrd files (`/bin`) or device nodes.
    Synthetic,
    /// Anything else: the library file system.
    Fs(String),
}

pub(super) fn node(path: &str) -> Node {
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
pub(super) const O_WRONLY: u64 = 1;
pub(super) const O_RDWR: u64 = 2;
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
        Node::Synthetic => return super::dirs::open_dir(name),
        Node::Fs(p) if p == "/" => {
            if write {
                return -EISDIR;
            }
            return super::dirs::open_dir(name);
        }
        // Asked for a directory: nothing is opened (or truncated) unless it is one.
        Node::Fs(p) if flags & (O_DIRECTORY | O_CREAT) == O_DIRECTORY => {
            return match crate::files::stat(&p) {
                Ok(s) if s.kind == Kind::Dir && write => -EISDIR,
                Ok(s) if s.kind == Kind::Dir => super::dirs::open_dir(name),
                Ok(_) => -ENOTDIR,
                Err(e) => fs_errno(e),
            };
        }
        Node::Fs(p) => {
            if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL && crate::files::stat(&p).is_ok() {
                return -EEXIST;
            }
            let mut of = o::FILE
                | match flags & O_ACCMODE {
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
                Err(crate::fs::FsError::IsDir) if !write => return super::dirs::open_dir(name),
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

const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// What `struct stat` says of something.
pub(super) struct Meta {
    mode: u32,
    size: u64,
    ino: u64,
}

pub(super) fn meta_of_node(n: Node) -> Result<Meta, i64> {
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
            let path = super::dirs::path(fd as usize);
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
