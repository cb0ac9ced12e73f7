//! The error type the library file systems share.

use core::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsError {
    /// No such file, directory or object.
    NotFound,
    /// The name exists already.
    Exists,
    /// A path component (or the operation's target) is not a directory.
    NotDir,
    /// The operation needs a file and found a directory.
    IsDir,
    /// The directory still has entries.
    NotEmpty,
    /// A name longer than the layout holds.
    NameTooLong,
    /// An empty name, or one containing '/' or NUL, or "." / "..".
    InvalidName,
    /// No free blocks, slots or pages.
    NoSpace,
    /// The file would exceed the largest size the layout maps.
    TooBig,
    /// A handle whose file was removed or moved.
    StaleHandle,
    /// A request that makes no sense (e.g. moving a directory into itself).
    Invalid,
    /// The on-disk structure is not what this libFS wrote.
    Corrupt(&'static str),
    /// XN refused or failed the call.
    Xn(exo_xn::Error),
    /// The file system is in use by the code an upcall handler interrupted.
    Busy,
}

impl From<exo_xn::Error> for FsError {
    fn from(e: exo_xn::Error) -> Self {
        match e {
            exo_xn::Error::NoSpace => FsError::NoSpace,
            e => FsError::Xn(e),
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("no such file or directory"),
            FsError::Exists => f.write_str("file exists"),
            FsError::NotDir => f.write_str("not a directory"),
            FsError::IsDir => f.write_str("is a directory"),
            FsError::NotEmpty => f.write_str("directory not empty"),
            FsError::NameTooLong => f.write_str("file name too long"),
            FsError::InvalidName => f.write_str("invalid file name"),
            FsError::NoSpace => f.write_str("no space left on device"),
            FsError::TooBig => f.write_str("file too large"),
            FsError::StaleHandle => f.write_str("stale file handle"),
            FsError::Invalid => f.write_str("invalid argument"),
            FsError::Corrupt(w) => write!(f, "corrupt file system: {w}"),
            FsError::Xn(e) => write!(f, "XN: {e}"),
            FsError::Busy => f.write_str("file system busy"),
        }
    }
}
