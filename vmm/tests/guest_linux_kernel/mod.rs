//! Linux as a guest of exo's engines: `exo run --kernel vmlinuz --initrd
//! initramfs.cpio` boots Debian's kernel (a bzImage) with `exo bench`'s
//! initramfs, whose /init runs the Linux side of the benchmarks and ends the
//! VM with its exit status through the debug-exit port.

use crate::common::exo;
use libtest_mimic::{Failed, Trial};

/// The kernel and initramfs, fetched and built as `exo bench` does.
pub fn prepare() -> Result<(String, String), String> {
    let kernel = exo::bench::linux_guest::debian_kernel()?;
    let initramfs = exo::bench::linux_guest::initramfs(false)?;
    Ok((
        kernel.display().to_string(),
        initramfs.display().to_string(),
    ))
}

pub fn boots_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::linux_kernel_boots_as_a_guest_and_exits_with_init_status"),
        move || {
            let (kernel, initramfs) = prepare()?;
            let run = |init: &str| {
                exo(&[
                    "run",
                    "--engine",
                    engine,
                    "--kernel",
                    &kernel,
                    "--initrd",
                    &initramfs,
                    "--mem",
                    "256M",
                    "-q",
                    "--timeout",
                    "600",
                    "--init",
                    init,
                ])
            };
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
