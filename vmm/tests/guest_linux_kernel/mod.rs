//! Linux as a guest of exo's engines: `exo run --kernel vmlinuz --initrd
//! initramfs.cpio` boots Debian's kernel (a bzImage) with `exo bench`'s
//! initramfs, whose /init runs the Linux side of the benchmarks and ends the
//! VM with its exit status through the debug-exit port.

use crate::common::{exo, Outcome};
use libtest_mimic::{Failed, Trial};

/// The kernel and initramfs, fetched and built as `exo bench` does (and the
/// initramfs with the kernel's disk modules, and the ext4 image).
pub fn prepare() -> Result<(String, String), String> {
    let kernel = exo::bench::linux_guest::debian_kernel()?;
    let initramfs = exo::bench::linux_guest::initramfs(false)?;
    exo::bench::linux_guest::initramfs_with_modules(&kernel)?;
    let scratch = exo::scratch::Scratch::new("linux-prepare")?;
    exo::bench::linux_guest::ext4_image(&scratch.path().join("ext4.img"))?;
    Ok((
        kernel.display().to_string(),
        initramfs.display().to_string(),
    ))
}

/// `exo run --engine ENGINE --kernel KERNEL --initrd INITRAMFS` with 256 MiB,
/// quiet, `extra` options and `init`.
fn run_linux(engine: &str, kernel: &str, initramfs: &str, extra: &[&str], init: &str) -> Outcome {
    let mut args = vec![
        "run",
        "--engine",
        engine,
        "--kernel",
        kernel,
        "--initrd",
        initramfs,
        "--mem",
        "256M",
        "-q",
        "--timeout",
        "900",
        "--init",
        init,
    ];
    args.extend_from_slice(extra);
    exo(&args)
}

/// Linux finds the virtio disk our engines give it (on our VMM, through
/// the ACPI tables' DSDT), mounts its ext4 and does the files suite's jobs.
pub fn disk_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::linux_guest_mounts_ext4_on_its_virtio_disk"),
        move || {
            let (kernel, _) = prepare()?;
            let initramfs = exo::bench::linux_guest::initramfs_with_modules(kernel.as_ref())?;
            let scratch = exo::scratch::Scratch::new("linux-disk")?;
            let disk = scratch.path().join("ext4.img");
            exo::bench::linux_guest::ext4_image(&disk)?;
            let disk = disk.display().to_string();
            let initramfs = initramfs.display().to_string();
            let o = run_linux(
                engine,
                &kernel,
                &initramfs,
                &["--disk", &disk],
                "/init files",
            );
            let json = o
                .stdout
                .lines()
                .find_map(|l| l.trim_end_matches('\r').strip_prefix("bench-json: "));
            let figures = json.map(exo::bench::parse_flat_json).unwrap_or_default();
            let all = [
                "fs_create_fsync",
                "fs_read_cached",
                "fs_unlink",
                "fs_seq_read_mib",
            ]
            .iter()
            .all(|key| figures.iter().any(|(k, v)| k == key && *v > 0.0));
            if o.status != Some(0) || !all {
                return Err(
                    format!("the files suite did not run on the disk:\n{}", o.show()).into(),
                );
            }
            Ok(())
        },
    )
}

pub fn boots_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::linux_kernel_boots_as_a_guest_and_exits_with_init_status"),
        move || {
            let (kernel, initramfs) = prepare()?;
            let run = |init: &str| run_linux(engine, &kernel, &initramfs, &[], init);
            let o = run("/init micro");
            if o.status != Some(0) || !o.stderr.contains(&format!("exo: engine: {engine}")) {
                return Err(Failed::from(format!("Linux did not run:\n{}", o.show())));
            }
            let json = o
                .stdout
                .lines()
                .find_map(|l| l.trim_end_matches('\r').strip_prefix("bench-json: "))
                .ok_or_else(|| format!("no results line:\n{}", o.show()))?;
            let figures = exo::bench::parse_flat_json(json);
            for key in [
                "getpid",
                "sigtrap_round_trip",
                "fork_exit_wait",
                "fork_exec_wait",
            ] {
                if !figures.iter().any(|(k, v)| k == key && *v > 0.0) {
                    return Err(format!("{key} missing or zero in {json}\n{}", o.show()).into());
                }
            }
            // The first process's exit status is the VM's.
            let o = run("/init no-such-suite");
            if o.status != Some(2) || !o.stdout.contains("unknown suite 'no-such-suite'") {
                return Err(format!(
                    "expected exit status 2 and the program's complaint:\n{}",
                    o.show()
                )
                .into());
            }
            Ok(())
        },
    )
}
