//! The Linux guest of the net suite: Debian's nginx (the `nginx` package,
//! fetched with `apt-get download` and unpacked in the cache) with this
//! host's copies of the shared libraries it links, as `ldd` finds them (so
//! the host must run the distribution the package is from), the benchmark
//! program as /init (`/init serve IP`: `images/linux-bench/serve.c`), and
//! the kernel package's virtio-net modules.

use super::linux_guest::{cache_dir, download, initramfs_with, run_tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// virtio-mmio and virtio-net, in load order (modules in Debian's kernel).
const NET_MODULES: [&str; 6] = [
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_mmio.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
];

/// The init command that serves at `ip`.
pub fn init(ip: &str) -> String {
    format!("/init serve {ip}")
}

/// nginx's executable, fetched and unpacked once.
fn nginx() -> Result<PathBuf, String> {
    let root = cache_dir().join("nginx");
    let exe = root.join("usr/sbin/nginx");
    if exe.is_file() {
        return Ok(exe);
    }
    let deb = download(&cache_dir().join("debs"), "nginx")?;
    run_tool(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        "dpkg-deb -x",
    )?;
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(format!("{}: no usr/sbin/nginx", deb.display()))
    }
}

/// The shared libraries and loader `ldd` names for `exe`: (path in the
/// guest, which is the host's path, and the file).
fn libraries(exe: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let out = run_tool(Command::new("ldd").arg(exe), "ldd")?;
    parse_ldd(&out).map_err(|e| format!("ldd {}: {e}", exe.display()))
}

/// Paths from `ldd` output: `name => /path (addr)` and `/loader (addr)`.
fn parse_ldd(out: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let mut libs = Vec::new();
    for line in out.lines().map(str::trim) {
        if line.contains("not found") {
            return Err(format!("a library is missing on this host: {line}"));
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push((p.trim_start_matches('/').to_string(), PathBuf::from(p)));
        }
    }
    Ok(libs)
}

/// The initramfs that serves: /init, nginx, its libraries, the modules.
pub fn initramfs(kernel: &Path) -> Result<PathBuf, String> {
    let exe = nginx()?;
    let mut extra = vec![("usr/sbin/nginx".to_string(), exe.clone())];
    extra.extend(libraries(&exe)?);
    initramfs_with(kernel, "nginx", &NET_MODULES, &extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f59)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f59)\n";
        let libs = parse_ldd(out).unwrap();
        assert_eq!(
            libs,
            [
                (
                    "lib/x86_64-linux-gnu/libz.so.1".to_string(),
                    PathBuf::from("/lib/x86_64-linux-gnu/libz.so.1")
                ),
                (
                    "lib64/ld-linux-x86-64.so.2".to_string(),
                    PathBuf::from("/lib64/ld-linux-x86-64.so.2")
                ),
            ]
        );
        assert!(parse_ldd("libssl.so.3 => not found").is_err());
    }
}
