//! Guest RAM in an anonymous shared-memory file (a memfd), so the VMM can
//! read QEMU's guest memory: QEMU maps the same file through
//! `/proc/self/fd/N` (`memory-backend-file,share=on`; guest-physical address
//! = offset in the file for the RAM below the 32-bit hole). A memfd has no
//! name in any directory: no other user can open it, and no planted symlink
//! can redirect it.

use super::collector::GuestRam;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct SharedRam {
    /// Kept open (and inherited by QEMU) for as long as the guest runs.
    _file: OwnedFd,
    path: PathBuf,
    base: *mut u8,
    len: u64,
}

// SAFETY: SharedRam owns a process-wide mapping, reached only by raw
// pointer; any thread may hold it, and only its drop unmaps it.
unsafe impl Send for SharedRam {}

impl SharedRam {
    /// Creates and maps a `len`-byte memfd.
    pub fn create(len: u64) -> Result<SharedRam, String> {
        let name = c"exo-guest-ram";
        // SAFETY: memfd_create takes a NUL-terminated name and flags. No
        // MFD_CLOEXEC: the QEMU child must inherit the descriptor.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
        if fd < 0 {
            return Err(format!(
                "cannot create the guest RAM file: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` was just returned to us and is owned by nothing else.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let file = std::fs::File::from(file);
        file.set_len(len)
            .map_err(|e| format!("cannot size the guest RAM file: {e}"))?;
        // SAFETY: a new mapping of the file we just sized to `len`; it
        // overlaps nothing we use, and SharedRam owns it until drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "cannot map the guest RAM file: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(SharedRam {
            path: PathBuf::from(format!("/proc/self/fd/{fd}")),
            _file: file.into(),
            base: p as *mut u8,
            len,
        })
    }

    /// The path under which QEMU (which inherits the descriptor) opens it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn ram(&self) -> GuestRam {
        GuestRam {
            base: self.base,
            len: self.len,
        }
    }
}

impl Drop for SharedRam {
    fn drop(&mut self) {
        // SAFETY: unmaps what `create` mapped, once. A collector reading it
        // was joined before (`Collector::start`'s contract).
        unsafe { libc::munmap(self.base as *mut _, self.len as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old attack: a symlink planted where guest RAM used to be put
    /// (`/dev/shm/exo-ram-<pid>`) is neither followed nor written, and the
    /// RAM has no name anyone else could open.
    #[test]
    fn guest_ram_has_no_name_and_follows_no_symlink() {
        let dir = std::env::temp_dir();
        let victim = dir.join(format!("exo-ram-victim-{}", std::process::id()));
        std::fs::write(&victim, b"precious").unwrap();
        let planted = ["/dev/shm", dir.to_str().unwrap()]
            .map(|d| Path::new(d).join(format!("exo-ram-{}", std::process::id())));
        for p in &planted {
            let _ = std::os::unix::fs::symlink(&victim, p);
        }
        let ram = SharedRam::create(1 << 20).unwrap();
        assert!(ram.path().starts_with("/proc/self/fd/"), "{:?}", ram.path());
        let g = ram.ram();
        // SAFETY: `g` is the 1 MiB mapping `ram` owns, alive until its drop.
        unsafe { std::ptr::write_bytes(g.base, 0xee, g.len as usize) };
        drop(ram);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        for p in &planted {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_file(&victim);
    }
}
