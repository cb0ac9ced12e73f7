//! Private scratch directories for the tools that need files of their own
//! (`exo bench`): created fresh with mode 0700 under the temp dir, with a
//! name nobody can predict, never reused if something already has the name
//! (so a planted directory or symlink is refused, not followed), and
//! removed with everything in them when dropped.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new directory `exo-WHAT-...` in the temp dir.
    pub fn new(what: &str) -> Result<Scratch, String> {
        let mut tag = [0u8; 8];
        // SAFETY: getrandom writes at most `tag.len()` bytes into `tag`.
        let n = unsafe { libc::getrandom(tag.as_mut_ptr().cast(), tag.len(), 0) };
        if n != tag.len() as isize {
            return Err(format!(
                "cannot name a scratch directory: {}",
                std::io::Error::last_os_error()
            ));
        }
        let path =
            std::env::temp_dir().join(format!("exo-{what}-{:016x}", u64::from_le_bytes(tag)));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Scratch { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_fresh_and_removed() {
        let (a, b) = (Scratch::new("t").unwrap(), Scratch::new("t").unwrap());
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(a.path().join("f"), b"x").unwrap();
        let p = a.path().to_path_buf();
        drop(a);
        assert!(!p.exists());
    }
}
