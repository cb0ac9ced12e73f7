//! The image builder: compiles the kernel and the guest programs for
//! `x86_64-unknown-none` (each a cargo workspace of its own) and packs the
//! programs into a cpio initrd. Called by the `exo` crate's build script, so
//! `cargo build`/`cargo run`/`cargo test` need no other step.

pub mod cpio;
mod strip;
mod target;

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

/// The guest's sources, relative to the workspace root: the two guest
/// workspaces and every crate they depend on by path. A change in any of them
/// must rebuild the image (`vmm/build.rs` watches them).
pub const GUEST_SOURCES: &[&str] = &[
    "exokernel/kernel",
    "images/programs",
    "exokernel/abi",
    "exokernel/dpf",
    "exokernel/kcore",
    "exokernel/xn",
    "libos",
];

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
    run(
        &mut cmd,
        &format!("building the guest in {}", dir.display()),
    )?;
    Ok(())
}

/// Runs `cmd` to its end; an error says `what` it was doing.
fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {}: {e}", cmd.get_program().display()))?;
    if !out.status.success() {
        return Err(failed(what, &out));
    }
    Ok(out)
}

/// The error of a command that ran and failed: what it did, its status and
/// what it said.
fn failed(what: &str, out: &std::process::Output) -> String {
    format!(
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
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

/// Where `ci/busybox` (or the nested-KVM rig) leaves Debian's
/// busybox-static, relative to the workspace.
pub const BUSYBOX: [&str; 2] = [
    "target/debian/busybox/bin/busybox",
    "target/kvm-rig/busybox/bin/busybox",
];

/// Builds kernel and initrd for the workspace at `root` with `cargo`.
pub fn build(root: &Path, cargo: &Path) -> Result<GuestImage, String> {
    // The guest builds' cargo runs `$RUSTC` (set for build scripts) or `rustc`.
    let rustc = std::env::var_os("RUSTC").map_or_else(|| PathBuf::from("rustc"), PathBuf::from);
    target::ensure(&rustc, Path::new("rustup"), root)?;
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
        let data = strip::debug_info(&data).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push((format!("bin/{name}"), data));
    }
    let programs = files.iter().map(|(p, _)| format!("/{p}")).collect();
    // Debian's busybox-static, for `/bin/linux`, once `ci/busybox` has
    // fetched it.
    for candidate in BUSYBOX {
        if let Ok(data) = std::fs::read(root.join(candidate)) {
            files.push(("bin/busybox".into(), data));
            break;
        }
    }
    let initrd = target_dir.join("initrd.cpio");
    std::fs::write(&initrd, cpio::archive(&files))
        .map_err(|e| format!("cannot write {}: {e}", initrd.display()))?;
    Ok(GuestImage {
        kernel,
        initrd,
        programs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The directories of the crates `manifest_dir` builds with, by path
    /// (`name = { path = "..." ... }` lines; dev-dependencies are not built
    /// into the guest), canonical.
    fn path_dependencies(manifest_dir: &Path) -> Vec<PathBuf> {
        let text = std::fs::read_to_string(manifest_dir.join("Cargo.toml")).unwrap();
        let mut in_deps = false;
        let mut deps = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line.ends_with("dependencies]") && !line.contains("dev-dependencies");
                continue;
            }
            let Some((_, rest)) = line.split_once("path = \"") else {
                continue;
            };
            if in_deps {
                let rel = rest.split('"').next().unwrap();
                deps.push(manifest_dir.join(rel).canonicalize().unwrap());
            }
        }
        deps
    }

    #[test]
    fn guest_sources_are_the_guest_and_its_path_dependencies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .canonicalize()
            .unwrap();
        let mut reached = BTreeSet::new();
        let mut todo = vec![root.join("exokernel/kernel"), root.join("images/programs")];
        while let Some(dir) = todo.pop() {
            if reached.insert(dir.clone()) {
                todo.extend(path_dependencies(&dir));
            }
        }
        let listed: BTreeSet<PathBuf> = GUEST_SOURCES
            .iter()
            .map(|d| root.join(d).canonicalize().unwrap())
            .collect();
        assert_eq!(
            listed, reached,
            "GUEST_SOURCES must name the guest workspaces and their path dependencies"
        );
    }
}
