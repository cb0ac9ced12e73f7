//! What can go wrong booting a guest on KVM, in words a user can act on.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// /dev/kvm cannot be opened.
    NoKvm(std::io::Error),
    /// A KVM ioctl failed.
    Kvm(&'static str, kvm_ioctls::Error),
    /// Guest memory could not be created.
    Memory(String),
    /// A file could not be read.
    File(PathBuf, std::io::Error),
    /// The kernel image is not loadable.
    Kernel(PathBuf, String),
    /// The initrd does not fit.
    InitrdTooBig { path: PathBuf, size: u64, mem: u64 },
    /// The command line is too long or malformed.
    Cmdline(String),
    /// A TAP interface could not be opened.
    Net(String, std::io::Error),
    /// The gdb stub failed (socket, protocol).
    Gdb(String),
    /// The guest stopped without an exit status.
    Guest(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoKvm(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write!(f, "/dev/kvm not found: this host has no KVM (load kvm_intel/kvm_amd, or use --engine qemu)")
            }
            Error::NoKvm(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                write!(f, "/dev/kvm: permission denied (add yourself to the kvm group, or use --engine qemu)")
            }
            Error::NoKvm(e) => write!(f, "/dev/kvm cannot be opened: {e}"),
            Error::Kvm(what, e) => write!(f, "KVM {what} failed: {e}"),
            Error::Memory(e) => write!(f, "cannot create guest memory: {e}"),
            Error::File(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Kernel(p, e) => write!(f, "kernel {}: {e}", p.display()),
            Error::InitrdTooBig { path, size, mem } => write!(
                f,
                "initrd {} ({} KiB) does not fit in {} MiB of guest memory beside the kernel",
                path.display(),
                size >> 10,
                mem >> 20
            ),
            Error::Cmdline(e) => write!(f, "kernel command line: {e}"),
            Error::Net(tap, e) if e.kind() == std::io::ErrorKind::PermissionDenied => write!(
                f,
                "--net tap={tap}: permission denied (create the TAP for your user with `ip tuntap add {tap} mode tap user $USER`, or run as root)"
            ),
            Error::Net(tap, e) => write!(f, "--net tap={tap}: cannot open the TAP device: {e}"),
            Error::Gdb(e) => write!(f, "gdb: {e}"),
            Error::Guest(e) => write!(f, "guest: {e}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    #[test]
    fn missing_or_forbidden_kvm_is_explained() {
        let none = Error::NoKvm(IoError::from(ErrorKind::NotFound)).to_string();
        assert!(
            none.contains("/dev/kvm not found") && none.contains("--engine qemu"),
            "{none}"
        );
        let denied = Error::NoKvm(IoError::from(ErrorKind::PermissionDenied)).to_string();
        assert!(
            denied.contains("permission denied") && denied.contains("kvm group"),
            "{denied}"
        );
        let big = Error::InitrdTooBig {
            path: "rd".into(),
            size: 40 << 20,
            mem: 32 << 20,
        }
        .to_string();
        assert!(
            big.contains("rd (40960 KiB) does not fit in 32 MiB"),
            "{big}"
        );
    }
}
