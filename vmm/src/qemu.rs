//! The QEMU engine: the same kernel, initrd and command line under
//! `qemu-system-x86_64 -M microvm -accel tcg`, with the same console and
//! debug-exit conventions as our VMM.

use crate::config::RunConfig;
use exo_abi::boot::DEBUG_EXIT_PORT;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The QEMU command line for `cfg`.
/// `ram_file`: guest RAM in a shared file the VMM reads (for tracing).
pub fn command(qemu: &Path, cfg: &RunConfig, ram_file: Option<&Path>) -> Command {
    let mut c = Command::new(qemu);
    // exo reads its devices from the command line (virtio_mmio.device=),
    // which QEMU writes only without ACPI; a Linux kernel such as Debian's
    // finds virtio-mmio devices only through ACPI, so a bzImage gets it.
    // The devices are the same either way.
    let linux = matches!(
        crate::guest_image::check_kernel(&cfg.kernel),
        Ok(crate::guest_image::KernelKind::BzImage)
    );
    let acpi = if linux { "on" } else { "off" };
    c.args(["-global", "virtio-mmio.force-legacy=false"]);
    c.args([
        "-M",
        &if ram_file.is_some() {
            format!("microvm,acpi={acpi},memory-backend=ram0")
        } else {
            format!("microvm,acpi={acpi}")
        },
        "-accel",
        "tcg",
        "-cpu",
        "qemu64,+nx,+smep,+smap",
        "-smp",
        "1",
    ])
    .args(["-m", &format!("{}K", cfg.mem_bytes >> 10)])
    .args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ])
    // Ctrl-C at a terminal goes to the guest (signal=off), as on our VMM.
    .args(["-chardev", "stdio,id=console,signal=off"])
    .args(["-serial", "chardev:console", "-monitor", "none"])
    .args([
        "-device",
        &format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=1"),
    ])
    .arg("-kernel")
    .arg(&cfg.kernel)
    .args(["-append", &linux_clock(&cfg.cmdline, linux, cfg.icount)]);
    if let Some(initrd) = &cfg.initrd {
        c.arg("-initrd").arg(initrd);
    }
    if let Some(f) = ram_file {
        c.args([
            "-object",
            &format!(
                "memory-backend-file,id=ram0,size={},mem-path={},share=on",
                cfg.mem_bytes,
                f.display()
            ),
        ]);
    }
    if cfg.icount {
        // One instruction per nanosecond of guest time, and no skipping of
        // idle time: every figure becomes a deterministic instruction count.
        c.args(["-icount", "shift=0,sleep=off"]);
        // A fixed wall clock at boot, so nothing seeds from the host's time.
        c.args(["-rtc", "base=2000-01-01T00:00:00,clock=vm"]);
    }
    if let Some(addr) = cfg.gdb {
        // QEMU's own gdb stub, the guest halted until gdb continues it.
        c.args(["-gdb", &format!("tcp:{addr}"), "-S"]);
    }
    for (i, d) in cfg.disks.iter().enumerate() {
        let ro = if d.readonly { ",readonly=on" } else { "" };
        // QEMU's -drive syntax treats ',' specially: double it in paths.
        let path = d.path.display().to_string().replace(',', ",,");
        c.args([
            "-drive",
            &format!("file={path},format=raw,if=none,id=disk{i}{ro}"),
        ]);
        c.args(["-device", &format!("virtio-blk-device,drive=disk{i}")]);
    }
    for (i, n) in cfg.nets.iter().enumerate() {
        c.args([
            "-netdev",
            &format!("tap,id=net{i},ifname={},script=no,downscript=no", n.tap),
        ]);
        let mac = crate::config::mac_string(n.mac_or_default(i));
        c.args([
            "-device",
            &format!("virtio-net-device,netdev=net{i},mac={mac}"),
        ]);
    }
    c
}

/// A Linux guest's command line with its clock: microvm has neither HPET
/// nor a PM timer, so Linux cannot calibrate the TSC and would run on 4 ms
/// jiffies (or stall, with ACPI). The rate is known: the host's TSC under
/// TCG, which passes it through, and 1 GHz under -icount (one tick per
/// instruction). A command line that sets `tsc_early_khz` keeps its own.
fn linux_clock(cmdline: &str, linux: bool, icount: bool) -> String {
    if !linux || cmdline.contains("tsc_early_khz=") {
        return cmdline.to_string();
    }
    let khz = if icount { 1_000_000 } else { host_tsc_khz() };
    let clock = format!("tsc_early_khz={khz} tsc=reliable clocksource=tsc");
    // Before any `--`: what follows it is the first process's arguments.
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "--").unwrap_or(words.len());
    let mut out: Vec<&str> = words[..at].to_vec();
    out.push(&clock);
    out.extend_from_slice(&words[at..]);
    out.join(" ")
}

/// The host's TSC rate in kHz, measured against the monotonic clock.
fn host_tsc_khz() -> u64 {
    let t = Instant::now();
    // SAFETY: rdtsc reads a counter and has no other effect.
    let c0 = unsafe { core::arch::x86_64::_rdtsc() };
    while t.elapsed() < Duration::from_millis(50) {}
    // SAFETY: as above.
    let c1 = unsafe { core::arch::x86_64::_rdtsc() };
    (c1 - c0) * 1_000_000 / t.elapsed().as_nanos().max(1) as u64
}

/// Maps QEMU's exit code to the guest's status: isa-debug-exit makes QEMU exit
/// with `(byte << 1) | 1` (truncated to 8 bits), so odd codes carry a status.
pub fn guest_status(code: i32, qemu_complained: bool) -> Result<u8, String> {
    match code {
        1 if qemu_complained => Err("QEMU failed to start the guest (its message is above)".into()),
        c if c & 1 == 1 => Ok(((c as u32 & 0xff) >> 1) as u8),
        0 => Err("the guest stopped without an exit status (triple fault or reset)".into()),
        c => Err(format!("QEMU exited with status {c}")),
    }
}

/// Runs the guest to completion and returns its exit status; `timeout` kills it.
pub fn run(qemu: &Path, cfg: &RunConfig, timeout: Option<Duration>) -> Result<u8, String> {
    let tracing = match &cfg.trace {
        Some(out) => Some((
            crate::trace::qemu_ram::SharedRam::create(cfg.mem_bytes)?,
            out.clone(),
        )),
        None => None,
    };
    let mut cmd = command(qemu, cfg, tracing.as_ref().map(|(r, _)| r.path()));
    // A terminal goes to QEMU as is (it sets raw mode; Ctrl-C reaches the
    // guest as a byte); other
    // input passes through us so that its end reaches the guest as Ctrl-D.
    let terminal = crate::input::stdin_is_terminal();
    cmd.stdout(Stdio::inherit())
        .stdin(if terminal {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: prctl is one system call and
    // nothing is allocated or locked. (It has QEMU killed when exo dies.)
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
    if let Some(stdin) = child.stdin.take() {
        crate::input::forward_stdin(stdin);
    }
    // Forward QEMU's own messages, remembering whether it complained.
    let stderr = child.stderr.take().expect("piped");
    let forward = std::thread::spawn(move || {
        let mut complained = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            complained = true;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        complained
    });
    let collector = match &tracing {
        Some((ram, out)) => {
            let anchor = crate::trace::anchor_address(&cfg.kernel)?;
            // SAFETY: `ram` maps guest RAM until `tracing` drops; the
            // collector is declared after it, so it is finished or dropped
            // (joined) first.
            let c = unsafe { crate::trace::collector::Collector::start(ram.ram(), anchor, out) };
            Some(c.map_err(|e| format!("{}: {e}", out.display()))?)
        }
        None => None,
    };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| format!("waiting for QEMU: {e}"))?
        {
            break s;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "timed out after {:?}; guest killed",
                timeout.unwrap()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let (Some(c), Some((_, out))) = (collector, &tracing) {
        match c.finish() {
            Ok(h) => eprintln!(
                "exo: trace: {} records, {} dropped, in {}",
                h.records,
                h.dropped,
                out.display()
            ),
            Err(e) => eprintln!("exo: trace: {}: {e}", out.display()),
        }
    }
    let complained = forward.join().unwrap_or(false);
    let _ = std::io::stdout().flush();
    match status.code() {
        Some(code) => guest_status(code, complained),
        None => Err(format!(
            "QEMU was killed by signal {}",
            status.signal().unwrap_or(0)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_gets_its_tsc_rate() {
        assert_eq!(
            linux_clock("console=ttyS0", true, true),
            "console=ttyS0 tsc_early_khz=1000000 tsc=reliable clocksource=tsc"
        );
        assert!(linux_clock("", true, false).starts_with("tsc_early_khz="));
        assert_eq!(
            linux_clock("tsc_early_khz=5", true, true),
            "tsc_early_khz=5"
        );
        assert_eq!(
            linux_clock("rdinit=/init -- micro", true, true),
            "rdinit=/init tsc_early_khz=1000000 tsc=reliable clocksource=tsc -- micro"
        );
        assert_eq!(
            linux_clock("exo.init=/bin/x", false, true),
            "exo.init=/bin/x"
        );
    }

    #[test]
    fn decodes_debug_exit_codes() {
        assert_eq!(guest_status(1, false), Ok(0));
        assert_eq!(guest_status(85, false), Ok(42));
        assert_eq!(guest_status((0x7f << 1) | 1, false), Ok(0x7f));
        assert!(guest_status(1, true).unwrap_err().contains("QEMU failed"));
        assert!(guest_status(0, false)
            .unwrap_err()
            .contains("without an exit status"));
        assert!(guest_status(2, false).is_err());
    }

    #[test]
    fn command_line_carries_the_guest() {
        let cfg = RunConfig {
            kernel: "k".into(),
            initrd: Some("i".into()),
            mem_bytes: 64 << 20,
            cmdline: "exo.init=/bin/x".into(),
            disks: vec![crate::config::Disk {
                path: "d,1.img".into(),
                readonly: true,
            }],
            nets: vec![crate::config::NetDev {
                tap: "exo0".into(),
                mac: None,
            }],
            gdb: Some("127.0.0.1:1234".parse().unwrap()),
            trace: None,
            icount: false,
        };
        let c = command(Path::new("qemu"), &cfg, None);
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let s = args.join(" ");
        assert!(s.contains("-M microvm,acpi=off -accel tcg"), "{s}");
        assert!(s.contains("-gdb tcp:127.0.0.1:1234 -S"), "{s}");
        assert!(
            s.contains("-netdev tap,id=net0,ifname=exo0,script=no,downscript=no -device virtio-net-device,netdev=net0,mac=52:54:00:12:34:56"),
            "{s}"
        );
        assert!(
            s.contains("file=d,,1.img,format=raw,if=none,id=disk0,readonly=on"),
            "{s}"
        );
        assert!(
            s.contains("-m 65536K") && s.contains("-kernel k") && s.contains("-initrd i"),
            "{s}"
        );
        assert!(
            s.contains("-append exo.init=/bin/x") && s.contains("isa-debug-exit,iobase=0xf4"),
            "{s}"
        );
    }
}
