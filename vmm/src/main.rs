//! `exo`: boots the exokernel under our KVM VMM (or QEMU) and hosts the tools.

mod cli;

use clap::Parser;
use cli::{Cli, Command, RunArgs};
use exo::config::RunConfig;
use exo::engine::{self, Engine, EngineChoice};
use exo::{guest_image, kvm, qemu};
use exo_abi::boot::cmdline as keys;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit status when exo itself fails (bad input, no engine, VMM error).
const EXIT_EXO_ERROR: i32 = 125;
/// Exit status when `--timeout` expired.
const EXIT_TIMEOUT: i32 = 124;
/// Room the kernel needs beside its image and the initrd.
const KERNEL_HEADROOM: u64 = 8 << 20;

fn main() {
    // Bad arguments are exo's own errors: 125, as the README says (clap
    // would exit 2); help and version still exit 0.
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let _ = e.print();
        std::process::exit(if e.use_stderr() { EXIT_EXO_ERROR } else { 0 })
    });
    let code = match cli.command {
        Command::Run(args) => match run(args) {
            Ok(status) => status as i32,
            Err((code, msg)) => {
                eprintln!("exo: error: {msg}");
                code
            }
        },
        Command::Engines => engines(),
        Command::Xn(args) => exo::tools::xn::main(args),
        Command::Dpf(args) => exo::tools::dpf::main(args),
        Command::Gdb(args) => {
            exo::tools::gdb::main(args, std::path::Path::new(env!("EXO_DEFAULT_KERNEL")))
        }
        Command::Bench(args) => bench(args),
        Command::Trace(args) => exo::trace::tool::main(args),
    };
    std::process::exit(code);
}

fn default_image(path: &str, what: &str) -> Result<PathBuf, (i32, String)> {
    let p = PathBuf::from(path);
    if p.is_file() {
        Ok(p)
    } else {
        Err((
            EXIT_EXO_ERROR,
            format!("the default {what} {path} is missing: build it with `cargo build --release`"),
        ))
    }
}

fn file_size(path: &Path, what: &str) -> Result<u64, (i32, String)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| (EXIT_EXO_ERROR, format!("{what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err((
            EXIT_EXO_ERROR,
            format!("{what} {}: not a regular file", path.display()),
        ));
    }
    Ok(meta.len())
}

/// Whether `path` in the initrd at `rd` is an executable not built for
/// exo (and the initrd has the runner for it).
fn linux_program(rd: &Path, path: &str) -> bool {
    let Ok(archive) = std::fs::read(rd) else {
        return false;
    };
    let find = |p: &str| exo_abi::initrd::find(&archive, p);
    find(path).is_some_and(|image| {
        exo_abi::program::is_elf64(image) && !exo_abi::program::is_exo_program(image)
    }) && find(exo_abi::program::LINUX_RUNNER).is_some()
}

/// The command line of a Linux guest: its console on the serial port (as
/// exo's), `quiet` for `-q`, and `--init` as `rdinit=` with the program's
/// arguments after `--`, which Linux hands to its first process.
fn linux_cmdline(user: &str, quiet: bool, init: Option<&str>) -> String {
    let mut words: Vec<String> = Vec::new();
    if !user.split_whitespace().any(|w| w.starts_with("console=")) {
        words.push("console=ttyS0".into());
    }
    // Neither engine gives a Linux guest a PCI bus (its devices are
    // virtio-mmio): without this Linux complains that it finds none.
    if !user.split_whitespace().any(|w| w.starts_with("pci=")) {
        words.push("pci=off".into());
    }
    words.extend(user.split_whitespace().map(String::from));
    if quiet {
        words.push("quiet".into());
    }
    if let Some(init) = init {
        let mut it = init.split_whitespace();
        if let Some(path) = it.next() {
            words.push(format!("rdinit={path}"));
            let rest: Vec<&str> = it.collect();
            if !rest.is_empty() {
                words.push("--".into());
                words.extend(rest.into_iter().map(String::from));
            }
        }
    }
    words.join(" ")
}

/// The exokernel's command line: the user's, with exo's keys for `-q`,
/// a terminal, `--init` and `--trace-events`.
fn exo_cmdline(args: &RunArgs, initrd: Option<&Path>) -> Result<String, (i32, String)> {
    let err = |m: String| (EXIT_EXO_ERROR, m);
    let mut cmdline = args.cmdline.trim().to_string();
    if args.quiet {
        cmdline = format!("{cmdline} {}=1", keys::QUIET).trim().to_string();
    }
    if exo::input::stdin_is_terminal() {
        cmdline = format!("{cmdline} {}=1", keys::TTY).trim().to_string();
    }
    if let Some(init) = &args.init {
        let mut words = init.split_whitespace();
        let Some(mut path) = words.next() else {
            return Err(err(format!("--init '{init}': a program path is needed")));
        };
        let mut rest: Vec<&str> = words.collect();
        if let Some(rd) = initrd {
            if linux_program(rd, path) {
                rest.insert(0, path);
                path = exo_abi::program::LINUX_RUNNER;
            }
        }
        cmdline = format!("{cmdline} {}={path}", keys::INIT)
            .trim()
            .to_string();
        if let Some(bad) = rest.iter().find(|w| w.contains(',')) {
            return Err(err(format!(
                "--init '{init}': argument '{bad}' has a comma, which the kernel command line uses to separate arguments"
            )));
        }
        if !rest.is_empty() {
            cmdline = format!("{cmdline} {}={}", keys::ARGS, rest.join(","));
        }
    }
    if args.trace.is_some() {
        for class in args.trace_events.split(',') {
            if exo_abi::trace::class_by_name(class).is_none() {
                return Err(err(format!("--trace-events: unknown class '{class}' (known: sched, pct, fault, syscall, mem, dpf, xn, libos, all)")));
            }
        }
        cmdline = format!("{cmdline} {}={}", keys::TRACE, args.trace_events)
            .trim()
            .to_string();
    }
    Ok(cmdline)
}

fn run(args: RunArgs) -> Result<u8, (i32, String)> {
    let err = |m: String| (EXIT_EXO_ERROR, m);
    let kernel = match args.kernel.clone() {
        Some(k) => k,
        None => default_image(env!("EXO_DEFAULT_KERNEL"), "kernel")?,
    };
    let kernel_size = file_size(&kernel, "kernel")?;
    let kind = guest_image::check_kernel(&kernel)
        .map_err(|e| err(format!("kernel {}: {e}", kernel.display())))?;
    let linux = kind == guest_image::KernelKind::BzImage;
    let initrd = match (args.initrd.clone(), args.no_initrd) {
        (_, true) => None,
        (Some(i), _) => Some(i),
        // Our programs' initrd means nothing to another kernel.
        (None, _) if linux => None,
        (None, _) => Some(default_image(env!("EXO_DEFAULT_INITRD"), "initrd")?),
    };
    if let Some(i) = &initrd {
        let size = file_size(i, "initrd")?;
        if size + kernel_size + KERNEL_HEADROOM > args.mem {
            return Err(err(format!(
                "initrd {} ({} KiB) and the kernel do not fit in {} MiB of guest memory; raise --mem",
                i.display(),
                size >> 10,
                args.mem >> 20
            )));
        }
    }
    let cmdline = if linux {
        if args.trace.is_some() {
            return Err(err(
                "--trace reads the exokernel's trace buffer, which a Linux kernel does not have"
                    .into(),
            ));
        }
        linux_cmdline(&args.cmdline, args.quiet, args.init.as_deref())
    } else {
        exo_cmdline(&args, initrd.as_deref())?
    };
    const MAX_TIMEOUT: f64 = 1e9;
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t <= MAX_TIMEOUT) => {
            return Err(err(format!(
                "--timeout {t}: must be a positive number of seconds, at most {MAX_TIMEOUT}"
            )))
        }
        t => t.map(Duration::from_secs_f64),
    };
    for d in &args.disk {
        let size = file_size(&d.path, "disk")?;
        if size == 0 || size % 512 != 0 {
            return Err(err(format!(
                "disk {}: its size ({size} bytes) is not a positive multiple of 512",
                d.path.display()
            )));
        }
    }
    let cfg = RunConfig {
        kernel,
        initrd,
        mem_bytes: args.mem,
        cmdline,
        disks: args.disk,
        nets: args.net,
        gdb: args.gdb,
        trace: args.trace,
        icount: args.icount,
    };

    let qemu_bin = engine::qemu_binary();
    let kvm_kind = engine::probe_kvm();
    let choice = match (args.icount, args.engine) {
        (true, EngineChoice::Kvm) => {
            return Err(err(
                "--icount counts instructions under QEMU; it cannot be used with --engine kvm"
                    .into(),
            ))
        }
        (true, _) => EngineChoice::Qemu,
        (false, c) => c,
    };
    let sel = engine::select(choice, &kvm_kind, qemu_bin.as_deref()).map_err(err)?;
    for note in &sel.notes {
        eprintln!("exo: {note}");
    }
    eprintln!("exo: engine: {}", sel.engine);
    if let Some(addr) = cfg.gdb {
        eprintln!(
            "exo: gdb stub on {addr}, guest halted at start; attach with: exo gdb {addr} [--program NAME] (or gdb {} -ex 'target remote {addr}')",
            cfg.kernel.display()
        );
    }
    match sel.engine {
        Engine::Qemu => {
            let q = qemu_bin.expect("selected only when present");
            qemu::run(&q, &cfg, timeout).map_err(|m| {
                if m.starts_with("timed out") {
                    (EXIT_TIMEOUT, m)
                } else {
                    err(m)
                }
            })
        }
        Engine::Kvm => {
            if let Some(t) = timeout {
                // The vCPU runs on this thread; a watchdog ends the process.
                std::thread::spawn(move || {
                    std::thread::sleep(t);
                    kvm::restore_terminal();
                    eprintln!("exo: error: timed out after {t:?}; guest killed");
                    std::process::exit(EXIT_TIMEOUT);
                });
            }
            kvm::run(&cfg).map_err(|e| err(e.to_string()))
        }
    }
}

fn bench(args: cli::BenchArgs) -> i32 {
    let baseline = match &args.baseline {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| exo::bench::Report::from_json(&t))
        {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("exo: error: baseline {}: {e}", p.display());
                return EXIT_EXO_ERROR;
            }
        },
    };
    // Instruction counts move by a percent or two at most from run to run
    // (QEMU's I/O thread still meets the guest at host-timed moments):
    // beyond a few percent is a real change.
    let tolerance = args
        .tolerance
        .unwrap_or(if args.icount { 5.0 } else { 25.0 });
    if !(tolerance >= 0.0 && tolerance.is_finite()) {
        eprintln!("exo: error: --tolerance {tolerance}: must be a non-negative percentage");
        return EXIT_EXO_ERROR;
    }
    if args.icount && args.engine == EngineChoice::Kvm {
        eprintln!("exo: error: --icount counts instructions under QEMU; it cannot be used with --engine kvm");
        return EXIT_EXO_ERROR;
    }
    if let Some(k) = &args.linux_kernel {
        match guest_image::check_kernel(k) {
            Ok(guest_image::KernelKind::BzImage) => {}
            Ok(_) => {
                eprintln!(
                    "exo: error: --linux-kernel {}: not a Linux bzImage",
                    k.display()
                );
                return EXIT_EXO_ERROR;
            }
            Err(e) => {
                eprintln!("exo: error: --linux-kernel {}: {e}", k.display());
                return EXIT_EXO_ERROR;
            }
        }
    }
    let opts = exo::bench::Options {
        suite: args.suite,
        icount: args.icount,
        engine: args.engine,
        linux_kernel: args.linux_kernel.clone(),
    };
    let report = match exo::bench::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("exo: error: bench: {e}");
            return EXIT_EXO_ERROR;
        }
    };
    print!("{}", report.table());
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, report.json()) {
            eprintln!("exo: error: {}: {e}", path.display());
            return EXIT_EXO_ERROR;
        }
    }
    if let Some(path) = &args.chart {
        if let Err(e) = std::fs::write(path, exo::bench::chart::svg(&report)) {
            eprintln!("exo: error: {}: {e}", path.display());
            return EXIT_EXO_ERROR;
        }
    }
    if let Some(base) = baseline {
        if base.engine != report.engine {
            println!(
                "\nnote: the baseline was measured on engine {}, this run on {}",
                base.engine, report.engine
            );
        }
        let compared = report.comparable(&base);
        if compared == 0 {
            println!("\nthe baseline has no figure measured alike (same name, unit and engines)");
            return 1;
        }
        let regressions = report.regressions(&base, tolerance);
        if !regressions.is_empty() {
            println!("\nregressions beyond {tolerance}%:");
            for r in &regressions {
                println!("  {r}");
            }
            return 1;
        }
        println!("\nno regression beyond {tolerance}% in {compared} figures against the baseline");
    }
    0
}

fn engines() -> i32 {
    let kvm_kind = engine::probe_kvm();
    match kvm_kind.limitation() {
        None => println!("kvm:  available, hardware-backed (our VMM runs the kernel natively)"),
        Some(why) => println!("kvm:  not usable for the ring-0 kernel: {why}"),
    }
    let qemu_bin = engine::qemu_binary();
    match &qemu_bin {
        Some(q) => println!("qemu: {}", q.display()),
        None => println!("qemu: not found (apt-get install qemu-system-x86)"),
    }
    match engine::select(engine::EngineChoice::Auto, &kvm_kind, qemu_bin.as_deref()) {
        Ok(sel) => {
            println!("auto: {}", sel.engine);
            0
        }
        Err(e) => {
            println!("auto: none: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::linux_cmdline;

    #[test]
    fn a_linux_guest_gets_a_console_no_pci_and_its_init_after_dashes() {
        assert_eq!(
            linux_cmdline("", true, Some("/init micro vm")),
            "console=ttyS0 pci=off quiet rdinit=/init -- micro vm"
        );
        // What the user names wins.
        assert_eq!(
            linux_cmdline("console=hvc0 pci=nomsi", false, Some("/sbin/init")),
            "console=hvc0 pci=nomsi rdinit=/sbin/init"
        );
    }
}
