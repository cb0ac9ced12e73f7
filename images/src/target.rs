//! The guest target's standard library. rustup installs the targets that
//! `rust-toolchain.toml` lists only together with the toolchain, so a
//! toolchain that was already installed may lack `x86_64-unknown-none`, and
//! the guest build would then fail with "can't find crate for `core`".

use crate::{failed, run, GUEST_TARGET};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `rustc` keeps the guest target's precompiled `core`, `alloc`, ...
fn libdir(rustc: &Path) -> Result<PathBuf, String> {
    let out = run(
        Command::new(rustc).args(["--print", "target-libdir", "--target", GUEST_TARGET]),
        &format!("asking {} for the {GUEST_TARGET} libdir", rustc.display()),
    )?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn has_core(libdir: &Path) -> bool {
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libcore-") && name.ends_with(".rlib")
        })
    })
}

/// Makes sure `rustc` can build for the guest target, adding the target with
/// `rustup` (run in `dir`) when it is missing. rustup picks the toolchain of
/// the cargo that runs us (its proxy sets `RUSTUP_TOOLCHAIN`), or else the
/// one `rust-toolchain.toml` in `dir` pins.
pub fn ensure(rustc: &Path, rustup: &Path, dir: &Path) -> Result<(), String> {
    let lib = libdir(rustc)?;
    if has_core(&lib) {
        return Ok(());
    }
    let missing = format!(
        "the {GUEST_TARGET} target is not installed for {} ({} holds no `core`)",
        rustc.display(),
        lib.display()
    );
    let out = match Command::new(rustup)
        .current_dir(dir)
        .args(["target", "add", GUEST_TARGET])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{missing}, and there is no rustup to add it: install the \
                 {GUEST_TARGET} standard library for this toolchain"
            ))
        }
        Err(e) => return Err(format!("{missing}; cannot run {}: {e}", rustup.display())),
    };
    if !out.status.success() {
        return Err(failed(
            &format!("{missing}; `rustup target add {GUEST_TARGET}`"),
            &out,
        ));
    }
    if !has_core(&lib) {
        return Err(format!(
            "{missing}; `rustup target add {GUEST_TARGET}` added it to another \
             toolchain than this rustc's"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;

    /// One test at a time: a script being written while another test
    /// forks could not be executed ("text file busy").
    static SERIAL: Mutex<()> = Mutex::new(());

    /// A scratch directory with a fake `rustc` whose guest libdir is `lib/`,
    /// and a fake `rustup` running `rustup_body` (sh).
    fn fake_toolchain(name: &str, rustup_body: &str) -> (PathBuf, PathBuf, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("exo-images-target-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lib = dir.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        let script = |file: &str, body: String| {
            let path = dir.join(file);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let rustc = script("rustc", format!("echo '{}'", lib.display()));
        let rustup = script(
            "rustup",
            rustup_body.replace("LIB", &lib.display().to_string()),
        );
        (dir, rustc, rustup)
    }

    const ADDS_CORE: &str =
        "[ \"$*\" = 'target add x86_64-unknown-none' ] && touch LIB/libcore-0.rlib";

    #[test]
    fn an_installed_target_needs_nothing() {
        let _serial = SERIAL.lock().unwrap();
        let (dir, rustc, _) = fake_toolchain("installed", "exit 1");
        std::fs::write(dir.join("lib/libcore-1234.rlib"), b"").unwrap();
        assert_eq!(ensure(&rustc, &dir.join("no-rustup"), &dir), Ok(()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_target_is_added_with_rustup() {
        let _serial = SERIAL.lock().unwrap();
        let (dir, rustc, rustup) = fake_toolchain("added", ADDS_CORE);
        assert_eq!(ensure(&rustc, &rustup, &dir), Ok(()));
        assert!(has_core(&dir.join("lib")));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_rustup_the_error_says_what_is_missing() {
        let _serial = SERIAL.lock().unwrap();
        let (dir, rustc, _) = fake_toolchain("no-rustup", "exit 1");
        let e = ensure(&rustc, &dir.join("no-rustup"), &dir).unwrap_err();
        assert!(
            e.contains("x86_64-unknown-none target is not installed")
                && e.contains("there is no rustup"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn rustup_failing_or_adding_elsewhere_is_an_error() {
        let _serial = SERIAL.lock().unwrap();
        let (dir, rustc, rustup) = fake_toolchain("fails", "echo offline >&2; exit 1");
        let e = ensure(&rustc, &rustup, &dir).unwrap_err();
        assert!(e.contains("failed") && e.contains("offline"), "{e}");
        let (dir2, rustc, rustup) = fake_toolchain("elsewhere", "exit 0");
        let e = ensure(&rustc, &rustup, &dir2).unwrap_err();
        assert!(e.contains("another toolchain"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(dir2);
    }
}
