//! Directories opened to be listed: their paths by descriptor, and
//! getdents64 over `/bin` (the initrd's programs), `/dev`, and the library
//! file system's directories.

use super::io::fs_errno;
use super::nr::*;
use super::paths::absolute;
use super::user::output;
use crate::fd::{self, kind, Fd};
use crate::fs::cffs::Kind;
use alloc::string::String;
use alloc::vec::Vec;

/// The path of each directory descriptor, by descriptor.
static DIRS: crate::cell::Exclusive<[Option<String>; fd::MAX_FDS]> =
    crate::cell::Exclusive::new([const { None }; fd::MAX_FDS]);

pub(super) fn open_dir(path: &str) -> i64 {
    let abs = absolute(path);
    let f = Fd {
        kind: kind::DIR,
        idx: 0,
        pos: 0,
    };
    match fd::install(f) {
        Ok(n) => {
            let _ = DIRS.try_with(|d| d[n] = Some(abs));
            super::io::set_cloexec(n, true);
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

/// Descriptor `fd`, a directory, was closed.
pub(super) fn closed(fd: usize) {
    let _ = DIRS.try_with(|d| d[fd] = None);
}

/// The path of directory descriptor `fd`.
pub(super) fn path(fd: usize) -> Option<String> {
    DIRS.try_with(|d| d.get(fd).cloned().flatten()).flatten()
}
