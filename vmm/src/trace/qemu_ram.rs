//! Guest RAM in a shared file, so the VMM can read QEMU's guest memory
//! (QEMU maps it with `memory-backend-file,share=on`; guest-physical address
//! = offset in the file for the RAM below the 32-bit hole).

use super::collector::GuestRam;
use std::path::{Path, PathBuf};

pub struct SharedRam {
    path: PathBuf,
    base: *mut u8,
    len: u64,
}

// SAFETY: SharedRam owns a process-wide mapping, reached only by raw
// pointer; any thread may hold it, and only its drop unmaps it.
unsafe impl Send for SharedRam {}

impl SharedRam {
    /// Creates and maps a `len`-byte file in /dev/shm (or the temp dir).
    pub fn create(len: u64) -> Result<SharedRam, String> {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("exo-ram-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_len(len)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        use std::os::fd::AsRawFd;
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
            let _ = std::fs::remove_file(&path);
            return Err(format!(
                "cannot map guest RAM file: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(SharedRam {
            path,
            base: p as *mut u8,
            len,
        })
    }

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
        let _ = std::fs::remove_file(&self.path);
    }
}
