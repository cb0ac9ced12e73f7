//! The image builder: compiles the kernel and the guest programs for
//! `x86_64-unknown-none` (each a cargo workspace of its own) and packs the
//! programs into a cpio initrd. Called by the `exo` crate's build script, so
//! `cargo build`/`cargo run`/`cargo test` need no other step.

pub mod cpio;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The built guest: kernel ELF and initrd, under `target/guest/`.
#[derive(Debug, Clone)]
pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Programs in the initrd, as paths inside it (`/bin/init`, ...).
    pub programs: Vec<String>,
}

/// Target triple of everything that runs in the guest.
pub const GUEST_TARGET: &str = "x86_64-unknown-none";

/// Environment set by an outer cargo that must not leak into the guest builds
/// (they would override the guest workspaces' own flags and target).
const OUTER_CARGO_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_X86_64_UNKNOWN_NONE_RUSTFLAGS",
];

fn cargo_build(cargo: &Path, dir: &Path, target_dir: &Path) -> Result<(), String> {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            GUEST_TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
    for var in OUTER_CARGO_ENV {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cargo.display()))?;
    if !out.status.success() {
        return Err(format!(
            "building the guest in {} failed ({}):\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Names of the programs in `images/programs/src/bin/`: `NAME.rs`, or a
/// directory `NAME/` with a `main.rs` (a program of several modules).
fn program_names(programs_dir: &Path) -> Result<Vec<String>, String> {
    let bin = programs_dir.join("src/bin");
    let mut names: Vec<String> = std::fs::read_dir(&bin)
        .map_err(|e| format!("cannot list {}: {e}", bin.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            if e.path().join("main.rs").is_file() {
                return Some(name);
            }
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Builds kernel and initrd for the workspace at `root` with `cargo`.
pub fn build(root: &Path, cargo: &Path) -> Result<GuestImage, String> {
    let target_dir = root.join("target/guest");
    let kernel_dir = root.join("exokernel/kernel");
    let programs_dir = root.join("images/programs");
    cargo_build(cargo, &kernel_dir, &target_dir)?;
    cargo_build(cargo, &programs_dir, &target_dir)?;
    let out = target_dir.join(GUEST_TARGET).join("release");

    let kernel = target_dir.join("exokernel");
    std::fs::copy(out.join("exokernel"), &kernel)
        .map_err(|e| format!("cannot copy the kernel: {e}"))?;

    let mut files = Vec::new();
    for name in program_names(&programs_dir)? {
        let path = out.join(&name);
        let data =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        files.push((format!("bin/{name}"), data));
    }
    let initrd = target_dir.join("initrd.cpio");
    std::fs::write(&initrd, cpio::archive(&files))
        .map_err(|e| format!("cannot write {}: {e}", initrd.display()))?;
    let programs = files.iter().map(|(p, _)| format!("/{p}")).collect();
    Ok(GuestImage {
        kernel,
        initrd,
        programs,
    })
}
