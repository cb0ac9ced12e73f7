//! Linux as a guest on the same engine as exo, in the same run: Debian's
//! kernel (fetched once with `apt-get download`, cached under `target/`, or
//! `--linux-kernel FILE`) boots an initramfs whose /init is
//! `images/linux-bench/bench.c`, compiled statically here, which does the
//! same jobs as exo's benchmark programs and prints them as JSON.

use crate::engine::Engine;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The benchmark program, built into the initramfs as /init.
const BENCH_C: &str = include_str!("../../../images/linux-bench/bench.c");
/// Guest RAM of the Linux guest (exo's default is smaller; Linux needs more
/// to boot, and none of the figures depends on it).
const LINUX_MEM: &str = "256M";

/// Where fetched and built files are kept: `target/linux-guest/`.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("EXO_DEFAULT_KERNEL"))
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .join("linux-guest")
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("{what}: cannot start it: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn find_vmlinuz(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir.join("boot"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
}

/// Debian's kernel: `apt-get download linux-image-amd64` and the image
/// package it depends on, unpacked once into the cache (or the copy the
/// nested-KVM rig already unpacked).
pub fn debian_kernel() -> Result<PathBuf, String> {
    let dir = cache_dir();
    let unpacked = dir.join("linux");
    let rig = dir.with_file_name("kvm-rig").join("linux");
    if let Some(k) = find_vmlinuz(&unpacked).or_else(|| find_vmlinuz(&rig)) {
        return Ok(k);
    }
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let download = |pkg: &str| {
        run_tool(
            Command::new("apt-get")
                .args(["download", pkg])
                .current_dir(&debs),
            &format!("apt-get download {pkg} (or give --linux-kernel FILE)"),
        )
    };
    download("linux-image-amd64")?;
    let meta = deb_named(&debs, "linux-image-amd64_")?;
    let depends = run_tool(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&meta)
            .arg("Depends"),
        "dpkg-deb -f",
    )?;
    let image = depends
        .split([',', ' '])
        .find(|w| w.starts_with("linux-image-") && w.len() > "linux-image-".len())
        .ok_or_else(|| format!("{}: no linux-image-* in Depends: {depends}", meta.display()))?
        .to_string();
    download(&image)?;
    let deb = deb_named(&debs, &format!("{image}_"))?;
    run_tool(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
        "dpkg-deb -x",
    )?;
    find_vmlinuz(&unpacked).ok_or_else(|| format!("{}: no boot/vmlinuz-*", deb.display()))
}

fn deb_named(dir: &Path, prefix: &str) -> Result<PathBuf, String> {
    std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
        })
        .ok_or_else(|| {
            format!(
                "apt-get download left no {prefix}*.deb in {}",
                dir.display()
            )
        })
}

/// Compiles bench.c statically (musl-gcc, else cc -static) and packs it as
/// the initramfs's /init; rebuilt when the source changes.
pub fn initramfs() -> Result<PathBuf, String> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = dir.join("bench.c");
    let exe = dir.join("bench");
    let cpio = dir.join("initramfs.cpio");
    if std::fs::read_to_string(&src).ok().as_deref() == Some(BENCH_C) && cpio.is_file() {
        return Ok(cpio);
    }
    std::fs::write(&src, BENCH_C).map_err(|e| format!("{}: {e}", src.display()))?;
    let compilers = [("musl-gcc", &["-static"][..]), ("cc", &["-static"][..])];
    let mut errors = Vec::new();
    let built = compilers.iter().any(|(cc, flags)| {
        match run_tool(
            Command::new(cc)
                .args(*flags)
                .args(["-O2", "-o"])
                .arg(&exe)
                .arg(&src),
            cc,
        ) {
            Ok(_) => true,
            Err(e) => {
                errors.push(e);
                false
            }
        }
    });
    if !built {
        let _ = std::fs::remove_file(&src);
        return Err(format!(
            "cannot build the Linux guest's benchmark program statically (install musl-tools): {}",
            errors.join("; ")
        ));
    }
    let init = std::fs::read(&exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    std::fs::write(&cpio, exo_images::cpio::archive(&[("init".into(), init)]))
        .map_err(|e| format!("{}: {e}", cpio.display()))?;
    Ok(cpio)
}

/// The host's TSC rate in kHz, which QEMU's TCG passes through to guests.
fn host_tsc_khz() -> u64 {
    let t = std::time::Instant::now();
    // SAFETY: rdtsc reads a counter and has no other effect.
    let c0 = unsafe { core::arch::x86_64::_rdtsc() };
    while t.elapsed() < std::time::Duration::from_millis(50) {}
    // SAFETY: as above.
    let c1 = unsafe { core::arch::x86_64::_rdtsc() };
    (c1 - c0) * 1_000_000 / t.elapsed().as_nanos().max(1) as u64
}

/// Linux's clock under QEMU: microvm has neither HPET nor ACPI PM timer to
/// calibrate the TSC against, so Linux would fall back to 4 ms jiffies.
/// Its rate is known: the host's under TCG, 1 GHz (one tick per
/// instruction) under -icount. On KVM, Linux uses kvmclock.
fn clock_args(engine: Engine, icount: bool) -> String {
    match engine {
        Engine::Kvm => String::new(),
        Engine::Qemu => {
            let khz = if icount { 1_000_000 } else { host_tsc_khz() };
            format!("tsc_early_khz={khz} tsc=reliable clocksource=tsc")
        }
    }
}

/// Boots `kernel` with the benchmark initramfs on `engine` and returns the
/// figures of `suites` (micro, ipc, vm) in ns (instructions under icount).
pub fn run(
    kernel: &Path,
    engine: Engine,
    icount: bool,
    suites: &[&str],
) -> Result<Vec<(String, f64)>, String> {
    let initramfs = initramfs()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg("--kernel")
        .arg(kernel)
        .arg("--initrd")
        .arg(&initramfs)
        .args(["--mem", LINUX_MEM, "-q", "--timeout", "1800"])
        .args(["--engine", &engine.to_string()])
        .args(["--cmdline", &clock_args(engine, icount)])
        .args(["--init", &format!("/init {}", suites.join(" "))]);
    if icount {
        cmd.arg("--icount");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the Linux guest: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("bench-json: "))
        .ok_or_else(|| {
            format!(
                "the Linux guest printed no results (status {:?}):\n{}{}",
                out.status.code(),
                tail(&stdout),
                tail(&String::from_utf8_lossy(&out.stderr))
            )
        })?;
    Ok(super::parse_flat_json(json))
}

/// The last lines of a guest's output, for an error message.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n") + "\n"
}
