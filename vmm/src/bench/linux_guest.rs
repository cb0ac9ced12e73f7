//! Linux as a guest on the same engine as exo, in the same run: Debian's
//! kernel (fetched once with `apt-get download`, cached under `target/`, or
//! `--linux-kernel FILE`) boots an initramfs whose /init is
//! `images/linux-bench/bench.c`, compiled statically here, which does the
//! same jobs as exo's benchmark programs and prints them as JSON.

use crate::engine::Engine;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The benchmark program's sources, built into the initramfs as /init.
const SOURCES: [(&str, &str); 4] = [
    (
        "bench.h",
        include_str!("../../../images/linux-bench/bench.h"),
    ),
    (
        "bench.c",
        include_str!("../../../images/linux-bench/bench.c"),
    ),
    ("dpf.c", include_str!("../../../images/linux-bench/dpf.c")),
    (
        "serve.c",
        include_str!("../../../images/linux-bench/serve.c"),
    ),
];
/// Guest RAM of the Linux guest (exo's default is smaller; Linux needs more
/// to boot, and none of the figures depends on it).
const LINUX_MEM: &str = "256M";
/// Guest RAM of both guests for the busybox suite (sort holds 10 MB of
/// lines, as separate allocations).
pub const BUSYBOX_MEM: &str = "512M";

/// Where fetched and built files are kept: `target/linux-guest/`.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("EXO_DEFAULT_KERNEL"))
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .join("linux-guest")
}

/// Runs a host tool; its stdout, or an error naming it with its stderr.
pub(crate) fn run_tool(cmd: &mut Command, what: &str) -> Result<String, String> {
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

/// Downloads Debian package `pkg` into `debs` (apt-get download).
pub(crate) fn download(debs: &Path, pkg: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    run_tool(
        Command::new("apt-get")
            .args(["download", pkg])
            .current_dir(debs),
        &format!("apt-get download {pkg}"),
    )?;
    deb_named(debs, &format!("{pkg}_"))
}

/// Debian's kernel: `apt-get download linux-image-amd64` (on Ubuntu,
/// `linux-image-generic`) and the image package it depends on, unpacked
/// once into the cache (or the copy the nested-KVM rig already unpacked).
pub fn debian_kernel() -> Result<PathBuf, String> {
    let dir = cache_dir();
    let unpacked = dir.join("linux");
    let rig = dir.with_file_name("kvm-rig").join("linux");
    if let Some(k) = find_vmlinuz(&unpacked).or_else(|| find_vmlinuz(&rig)) {
        return Ok(k);
    }
    let debs = dir.join("debs");
    // Debian's meta-package, else Ubuntu's (CI runners).
    let meta = download(&debs, "linux-image-amd64")
        .or_else(|debian| {
            download(&debs, "linux-image-generic").map_err(|ubuntu| format!("{debian}; {ubuntu}"))
        })
        .map_err(|e| format!("{e} (or give --linux-kernel FILE)"))?;
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
    let deb = download(&debs, &image)?;
    run_tool(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
        "dpkg-deb -x",
    )?;
    find_vmlinuz(&unpacked).ok_or_else(|| format!("{}: no boot/vmlinuz-*", deb.display()))
}

/// Debian's busybox-static: the copy the tests or the rig fetched, else
/// fetched into the cache.
pub fn busybox() -> Result<PathBuf, String> {
    let workspace = cache_dir()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let ours = cache_dir().join("busybox/bin/busybox");
    if let Some(found) = exo_images::BUSYBOX
        .iter()
        .map(|p| workspace.join(p))
        .chain([ours.clone()])
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    let deb = download(&cache_dir().join("debs"), "busybox-static")?;
    run_tool(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(cache_dir().join("busybox")),
        "dpkg-deb -x",
    )?;
    Ok(ours)
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

/// The benchmark program compiled statically (musl-gcc, else cc -static),
/// rebuilt when a source changes.
fn bench_program() -> Result<PathBuf, String> {
    let dir = cache_dir().join("bench-src");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let exe = cache_dir().join("bench");
    let current = SOURCES
        .iter()
        .all(|(name, text)| std::fs::read_to_string(dir.join(name)).ok().as_deref() == Some(*text));
    if current && exe.is_file() {
        return Ok(exe);
    }
    for (name, text) in SOURCES {
        let src = dir.join(name);
        std::fs::write(&src, text).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    let units: Vec<PathBuf> = SOURCES
        .iter()
        .filter(|(name, _)| name.ends_with(".c"))
        .map(|(name, _)| dir.join(name))
        .collect();
    let mut errors = Vec::new();
    for cc in ["musl-gcc", "cc"] {
        let built = run_tool(
            Command::new(cc)
                .args(["-static", "-O2", "-o"])
                .arg(&exe)
                .args(&units),
            cc,
        );
        match built {
            Ok(_) => return Ok(exe),
            Err(e) => errors.push(e),
        }
    }
    let _ = std::fs::remove_file(dir.join("bench.c"));
    Err(format!(
        "cannot build the benchmark program statically (install musl-tools): {}",
        errors.join("; ")
    ))
}

/// Writes `files` as the cpio archive `name` in the cache, unless it is
/// newer than every source file and than this exo (which writes it).
fn archive(name: &str, files: &[(&str, &Path)]) -> Result<PathBuf, String> {
    archive_as(name, files, exo_images::cpio::archive_with_dirs)
}

/// Writes a cpio archive of `(path, contents)` files.
type CpioWriter = fn(&[(String, Vec<u8>)]) -> Vec<u8>;

/// `archive` written by `write`: exo's initrds are written by
/// `cpio::archive`, which starts each program on a page (exo maps a
/// program's pages from the initrd), and need no directory entries.
fn archive_as(name: &str, files: &[(&str, &Path)], write: CpioWriter) -> Result<PathBuf, String> {
    let cpio = cache_dir().join(name);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    if let Some(made) = modified(&cpio) {
        let mut sources = files.iter().map(|(_, src)| *src).chain([me.as_path()]);
        if sources.all(|src| modified(src).is_some_and(|m| m <= made)) {
            return Ok(cpio);
        }
    }
    let mut contents = Vec::new();
    for (path, src) in files {
        let data = std::fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
        contents.push((path.to_string(), data));
    }
    std::fs::write(&cpio, write(&contents)).map_err(|e| format!("{}: {e}", cpio.display()))?;
    Ok(cpio)
}

/// The Linux guest's initramfs: the benchmark program as /init, and
/// busybox as /bin/busybox when `with_busybox`.
pub fn initramfs(with_busybox: bool) -> Result<PathBuf, String> {
    let bench = bench_program()?;
    if !with_busybox {
        return archive("initramfs.cpio", &[("init", &bench)]);
    }
    let busybox = busybox()?;
    archive(
        "initramfs-busybox.cpio",
        &[("init", &bench), ("bin/busybox", &busybox)],
    )
}

/// The modules the files suite loads, in dependency order (paths under the
/// kernel's `lib/modules/VERSION/kernel/`): in Debian's kernel virtio-mmio,
/// virtio-blk and ext4 are modules.
const FILE_MODULES: [&str; 9] = [
    "lib/crc16.ko",
    "fs/mbcache.ko",
    "fs/jbd2/jbd2.ko",
    "crypto/crc32c_generic.ko",
    "fs/ext4/ext4.ko",
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_mmio.ko",
    "drivers/block/virtio_blk.ko",
];

/// The initramfs with the kernel's modules for a disk with ext4.
pub fn initramfs_with_modules(kernel: &Path) -> Result<PathBuf, String> {
    initramfs_with(kernel, "files", &FILE_MODULES, &[])
}

/// An initramfs named after `what` and the kernel's version: the benchmark
/// program as /init, `extra` files (path in the archive, file), and the
/// kernel's `modules` as /modules/NN.ko[.xz] in load order; `kernel` is
/// boot/vmlinuz-VERSION of an unpacked kernel package.
pub(crate) fn initramfs_with(
    kernel: &Path,
    what: &str,
    modules: &[&str],
    extra: &[(String, PathBuf)],
) -> Result<PathBuf, String> {
    let bench = bench_program()?;
    let version = kernel
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .ok_or_else(|| format!("{}: not named vmlinuz-VERSION", kernel.display()))?;
    let root = kernel.parent().and_then(Path::parent).ok_or_else(|| {
        format!(
            "{}: not inside an unpacked kernel package",
            kernel.display()
        )
    })?;
    let dir = root.join("lib/modules").join(version).join("kernel");
    let mut found = Vec::new();
    for m in modules {
        // Built into this kernel, or compressed (newer Debian kernels).
        let plain = dir.join(m);
        let xz = dir.join(format!("{m}.xz"));
        if plain.is_file() {
            found.push((format!("modules/{:02}.ko", found.len()), plain));
        } else if xz.is_file() {
            found.push((format!("modules/{:02}.ko.xz", found.len()), xz));
        }
    }
    if found.is_empty() {
        return Err(format!(
            "the {what} suite loads modules from {}, which has none of {modules:?}",
            dir.display()
        ));
    }
    let mut files: Vec<(&str, &Path)> = vec![("init", &bench)];
    files.extend(found.iter().map(|(n, p)| (n.as_str(), p.as_path())));
    files.extend(extra.iter().map(|(n, p)| (n.as_str(), p.as_path())));
    archive(&format!("initramfs-{what}-{version}.cpio"), &files)
}

/// Bytes of the Linux guest's ext4 disk (the same as exo's XN disk).
pub const EXT4_DISK_BYTES: u64 = 64 << 20;

/// A fresh copy of an empty ext4 disk image at `path`: made once by
/// `mkfs.ext4` in the cache, initialised in full so that no lazy
/// initialisation writes behind the figures.
pub fn ext4_image(path: &Path) -> Result<(), String> {
    let pristine = cache_dir().join("ext4-64m.img");
    if !pristine.is_file() {
        std::fs::create_dir_all(cache_dir()).map_err(|e| e.to_string())?;
        let tmp = cache_dir().join("ext4-64m.img.tmp");
        std::fs::File::create(&tmp)
            .and_then(|f| f.set_len(EXT4_DISK_BYTES))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        run_tool(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"])
                .arg(&tmp)
                .stdin(Stdio::null()),
            "mkfs.ext4 (e2fsprogs)",
        )?;
        std::fs::rename(&tmp, &pristine).map_err(|e| e.to_string())?;
    }
    std::fs::copy(&pristine, path)
        .map(|_| ())
        .map_err(|e| format!("{} -> {}: {e}", pristine.display(), path.display()))
}

/// exo's initrd for the same jobs: the library OS's Linux runner (from the
/// default initrd), the benchmark program as /bin/bench and busybox.
pub fn exo_initrd() -> Result<PathBuf, String> {
    let bench = bench_program()?;
    let busybox = busybox()?;
    let default = Path::new(env!("EXO_DEFAULT_INITRD"));
    let all = std::fs::read(default).map_err(|e| format!("{}: {e}", default.display()))?;
    let runner_path = exo_abi::program::LINUX_RUNNER;
    let runner = exo_abi::initrd::find(&all, runner_path)
        .ok_or_else(|| format!("{}: no {runner_path}", default.display()))?;
    let runner_file = cache_dir().join("linux-runner");
    if std::fs::read(&runner_file).ok().as_deref() != Some(runner) {
        std::fs::write(&runner_file, runner)
            .map_err(|e| format!("{}: {e}", runner_file.display()))?;
    }
    archive_as(
        "exo-busybox.cpio",
        &[
            (runner_path.trim_start_matches('/'), &runner_file),
            ("bin/bench", &bench),
            ("bin/busybox", &busybox),
        ],
        exo_images::cpio::archive,
    )
}

/// Linux's command line: under -icount nothing random either, since the
/// layout of the kernel and of each process's mappings changes what
/// page-table walks cost. (exo's QEMU engine gives Linux its TSC rate.)
fn layout_args(icount: bool) -> &'static str {
    if icount {
        "nokaslr norandmaps"
    } else {
        ""
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
    run_with_disk(kernel, engine, icount, suites, None)
}

/// `run`, with `disk` as the guest's virtio-blk disk (/dev/vda).
pub fn run_with_disk(
    kernel: &Path,
    engine: Engine,
    icount: bool,
    suites: &[&str],
    disk: Option<&Path>,
) -> Result<Vec<(String, f64)>, String> {
    let busybox = suites.contains(&"busybox");
    let initramfs = if suites.contains(&"files") {
        initramfs_with_modules(kernel)?
    } else if busybox && disk.is_some() {
        // busybox, and the modules to mount the disk for the tar figure.
        let extra = [("bin/busybox".to_string(), self::busybox()?)];
        initramfs_with(kernel, "busybox", &FILE_MODULES, &extra)?
    } else {
        initramfs(busybox)?
    };
    let mem = if busybox { BUSYBOX_MEM } else { LINUX_MEM };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg("--kernel")
        .arg(kernel)
        .arg("--initrd")
        .arg(&initramfs)
        .args(["--mem", mem, "-q", "--timeout", "3600"])
        .args(["--engine", &engine.to_string()])
        .args(["--cmdline", layout_args(icount)])
        .args(["--init", &format!("/init {}", suites.join(" "))]);
    if icount {
        cmd.arg("--icount");
    }
    if let Some(d) = disk {
        cmd.arg("--disk").arg(d);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the Linux guest: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() != Some(0) {
        return Err(format!(
            "the Linux guest failed (status {:?}):\n{}{}",
            out.status.code(),
            tail(&stdout),
            tail(&String::from_utf8_lossy(&out.stderr))
        ));
    }
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
