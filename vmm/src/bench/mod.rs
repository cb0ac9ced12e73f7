//! `exo bench`: runs exo's benchmark programs and, in the same run and on the
//! same engine, Linux as a guest doing the same jobs; reports each figure
//! with the ratio, both engines and the machine: ratios, never absolute
//! claims. Under QEMU `-icount` every figure is an instruction count.

pub mod chart;
mod dpf;
pub mod linux_guest;
mod net;
mod nginx_guest;
mod xnfs;

use crate::engine::{Engine, EngineChoice};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// Which figures to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Null call, upcall, fork+exit+wait.
    Micro,
    /// Protected control transfer, directed yield, pipes.
    Ipc,
    /// The Appel-Li virtual-memory benchmarks.
    Vm,
    /// The same unmodified busybox on exo (Linux personality) and Linux: a
    /// fork+exec loop, sort of a 10 MB file and tar of a tree, on a disk
    /// (minutes under emulation; not in all).
    Busybox,
    /// Received-packet demultiplexing among 1 to 250 filters: DPF in exo's
    /// kernel against eBPF socket filters in the Linux guest's (and, without
    /// --icount, both classifiers timed on the host CPU for 1 to 1000).
    Dpf,
    /// HTTP requests/s of httpd in exo against nginx in the Linux guest
    /// (root, wrk; nginx fetched with apt-get download).
    Net,
    /// File-system operations over XN (checks on and off) and a cold read,
    /// against ext4 in the Linux guest.
    Xn,
    All,
}

/// One figure: exo's and Linux's cost of the same job, in `unit`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figure {
    pub name: String,
    /// "ns", or "instructions" under QEMU -icount.
    #[serde(default = "ns")]
    pub unit: String,
    #[serde(alias = "exo_ns")]
    pub exo: f64,
    #[serde(alias = "linux_ns")]
    pub linux: f64,
    /// exo / linux.
    pub ratio: f64,
    /// What Linux did for this figure.
    pub linux_job: String,
    /// Where exo's side ran: a guest engine (kvm, qemu), or "host" for
    /// engine code timed on the host CPU (DPF).
    #[serde(alias = "engine", default)]
    pub exo_engine: String,
    /// Where Linux's side ran: the same guest engine, or "host" for a
    /// figure whose Linux side is still the host's (not a fair ratio).
    #[serde(default)]
    pub linux_engine: String,
}

fn ns() -> String {
    "ns".into()
}

impl Figure {
    pub fn new(name: &str, unit: &str, exo: f64, linux: f64, linux_job: &str) -> Figure {
        Figure {
            name: name.into(),
            unit: unit.into(),
            exo,
            linux,
            ratio: exo / linux,
            linux_job: linux_job.into(),
            exo_engine: String::new(),
            linux_engine: String::new(),
        }
    }

    /// Both sides on the same engine: a ratio that means something.
    pub fn same_engine(&self) -> bool {
        self.exo_engine == self.linux_engine
    }
}

/// A whole run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub engine: String,
    pub machine: String,
    /// Figures are guest instruction counts (QEMU -icount).
    #[serde(default)]
    pub icount: bool,
    pub figures: Vec<Figure>,
}

/// How to run the suite.
#[derive(Clone, Debug)]
pub struct Options {
    pub suite: Suite,
    /// Count instructions under QEMU -icount.
    pub icount: bool,
    /// The engine for both guests.
    pub engine: EngineChoice,
    /// The Linux guest's kernel [default: Debian's, fetched and cached].
    pub linux_kernel: Option<PathBuf>,
}

/// Parses a flat `{"key":number,...}` object (what the guests print).
pub fn parse_flat_json(s: &str) -> Vec<(String, f64)> {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((
                k.trim().trim_matches('"').to_string(),
                v.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// The engine `exo run` named on stderr, and the guest's `bench-json:` line.
pub(crate) fn engine_and_results<'a>(stdout: &'a str, stderr: &str) -> (String, Option<&'a str>) {
    let engine = stderr
        .lines()
        .find_map(|l| l.strip_prefix("exo: engine: "))
        .unwrap_or("unknown")
        .to_string();
    let json = stdout
        .lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("bench-json: "));
    (engine, json)
}

/// Runs `prog` on exo with `extra` arguments to `exo run`; returns its
/// figures in ns (guest instructions under icount, where the TSC counts one
/// per instruction) and the engine it ran on. A program that reports
/// `tsc_mhz` gives cycles, converted here; any other gives ns.
fn run_exo(
    prog: &str,
    extra: &[&str],
    opts: &Options,
) -> Result<(Vec<(String, f64)>, Engine), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--init", prog, "--timeout", "3600"])
        .args(extra);
    if opts.icount {
        cmd.arg("--icount");
    } else {
        cmd.args(["--engine", engine_arg(opts.engine)]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the guest: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (engine, json) = engine_and_results(&stdout, &stderr);
    if out.status.code() != Some(0) {
        return Err(format!(
            "{prog} failed (status {:?}):\n{stdout}{stderr}",
            out.status.code()
        ));
    }
    let json = json.ok_or_else(|| {
        format!(
            "{prog} printed no results (status {:?}):\n{stdout}{stderr}",
            out.status.code()
        )
    })?;
    let engine = match engine.as_str() {
        "kvm" => Engine::Kvm,
        "qemu" => Engine::Qemu,
        other => return Err(format!("{prog} ran on an unknown engine '{other}'")),
    };
    let raw = parse_flat_json(json);
    let per_cycle = match raw.iter().find(|(k, _)| k == "tsc_mhz").map(|(_, v)| *v) {
        None => 1.0,
        Some(_) if opts.icount => 1.0,
        Some(mhz) if mhz > 0.0 => 1000.0 / mhz,
        Some(_) => return Err(format!("{prog} reported a TSC of 0 MHz")),
    };
    let figures = raw
        .into_iter()
        .filter(|(k, _)| k != "tsc_mhz")
        .map(|(k, cycles)| (k, cycles * per_cycle))
        .collect();
    Ok((figures, engine))
}

pub(crate) fn engine_arg(c: EngineChoice) -> &'static str {
    match c {
        EngineChoice::Auto => "auto",
        EngineChoice::Kvm => "kvm",
        EngineChoice::Qemu => "qemu",
    }
}

/// What this machine is.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cpu}, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

/// Keeps this process and its children (the engines) on one CPU, so that
/// both guests run alike.
fn pin_to_one_cpu() {
    // SAFETY: cpu_set_t is plain data and all zeros is the empty set; CPU_SET
    // writes inside it, and sched_setaffinity reads exactly its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

const DPF_JOB: &str = "eBPF socket filters in the guest kernel (BPF_PROG_TEST_RUN): the better of one program per port in turn and one program + hash map";

/// exo figure, Linux guest figure, what Linux did: the pairs of the
/// micro, ipc and vm suites.
const PAIRS: &[(&str, &str, &str, &str)] = &[
    // (figure, exo key, Linux key, Linux's job)
    ("null_syscall", "null_syscall", "getpid", "getpid()"),
    (
        "upcall_round_trip",
        "upcall_round_trip",
        "sigtrap_round_trip",
        "int3 -> SIGTRAP handler -> resume",
    ),
    (
        "reflected_syscall",
        "reflected_syscall",
        "getpid",
        "getpid() natively (exo: a Linux call reflected to the libOS)",
    ),
    (
        "fork_exit_wait",
        "fork_exit_wait",
        "fork_exit_wait",
        "fork + _exit + waitpid",
    ),
    (
        "spawn_wait",
        "spawn_wait",
        "fork_exec_wait",
        "fork + execve of a static program + waitpid (exo: spawn from the initrd + wait)",
    ),
    (
        "pct_round_trip",
        "pct_round_trip",
        "pipe_round_trip",
        "1-byte pipe ping-pong, one CPU",
    ),
    (
        "pct_vs_futex",
        "pct_round_trip",
        "futex_round_trip",
        "futex wait/wake ping-pong, one CPU",
    ),
    (
        "yield_round_trip",
        "yield_round_trip",
        "yield_round_trip",
        "sched_yield ping-pong",
    ),
    (
        "pipe_round_trip",
        "pipe_round_trip",
        "pipe_round_trip",
        "1-byte pipe ping-pong, one CPU",
    ),
    (
        "appel_trap",
        "appel_trap",
        "appel_trap",
        "write to a protected page -> SIGSEGV handler (mprotect) -> resume",
    ),
    (
        "appel_prot1",
        "appel_prot1",
        "appel_prot1",
        "mprotect of one page",
    ),
    (
        "appel_prot100",
        "appel_prot100",
        "appel_prot100",
        "mprotect of 100 pages read-only, per page",
    ),
    (
        "appel_unprot100",
        "appel_unprot100",
        "appel_unprot100",
        "mprotect of 100 pages writable, per page",
    ),
    (
        "appel_dirty",
        "appel_dirty",
        "appel_dirty",
        "pread of /proc/self/pagemap (soft-dirty bit)",
    ),
    (
        "appel1",
        "appel1",
        "appel1",
        "trap + unprotect + protect another, per page",
    ),
    (
        "appel2",
        "appel2",
        "appel2",
        "protect 100 + trap + unprotect, per page",
    ),
    ("dpf_1_filters", "dpf_1_filters", "dpf_1_filters", DPF_JOB),
    (
        "dpf_10_filters",
        "dpf_10_filters",
        "dpf_10_filters",
        DPF_JOB,
    ),
    (
        "dpf_100_filters",
        "dpf_100_filters",
        "dpf_100_filters",
        DPF_JOB,
    ),
    (
        "dpf_250_filters",
        "dpf_250_filters",
        "dpf_250_filters",
        DPF_JOB,
    ),
    (
        "busybox_fork_exec",
        "bb_fork_exec",
        "bb_fork_exec",
        "busybox sh: a loop of busybox true, per iteration (same binary both sides)",
    ),
    (
        "busybox_tar_tree",
        "bb_tar_tree",
        "bb_tar_tree",
        "busybox tar cf - | wc -c of 128 files of 4 KiB in 8 directories, cached, on ext4 (exo: the library file system over XN)",
    ),
    (
        "busybox_sort_10mb",
        "bb_sort_10mb",
        "bb_sort_10mb",
        "busybox sort -r of a 9.4 MB file of 1300000 lines | tail -n 1, cached, on ext4 (exo: the library file system over XN)",
    ),
];

fn value(set: &[(String, f64)], key: &str) -> Option<f64> {
    set.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// The guest suites: exo's programs and the Linux guest on the same engine.
fn guest_pairs(opts: &Options, suites: &[&str]) -> Result<(Vec<Figure>, Engine), String> {
    let mut exo = Vec::new();
    let mut engine = None;
    for (prog, extra) in guest_programs(suites) {
        let (f, e) = run_exo(prog, extra, opts)?;
        exo.extend(f);
        engine = Some(e);
    }
    // The busybox suite's tar figure works on a disk: a blank one for exo
    // (its programs start on the file system it makes there), ext4 for Linux.
    let scratch = crate::scratch::Scratch::new("bench-busybox")?;
    let (exo_disk, ext4) = (
        scratch.path().join("xn.img"),
        scratch.path().join("ext4.img"),
    );
    if suites.contains(&"busybox") {
        // The same static program as the Linux guest's /init runs the same
        // busybox under exo's Linux personality.
        let initrd = linux_guest::exo_initrd()?;
        let initrd = initrd.to_str().ok_or("the cache path is not UTF-8")?;
        std::fs::File::create(&exo_disk)
            .and_then(|f| f.set_len(linux_guest::EXT4_DISK_BYTES))
            .map_err(|e| format!("{}: {e}", exo_disk.display()))?;
        let disk = exo_disk.to_str().ok_or("the scratch path is not UTF-8")?;
        let extra = [
            "--initrd",
            initrd,
            "--mem",
            linux_guest::BUSYBOX_MEM,
            "-q",
            "--disk",
            disk,
        ];
        let (f, e) = run_exo("/bin/bench busybox", &extra, opts)?;
        exo.extend(f);
        engine = Some(e);
        linux_guest::ext4_image(&ext4)?;
    }
    let engine = engine.ok_or("no guest suite to run")?;
    let kernel = match &opts.linux_kernel {
        Some(k) => k.clone(),
        None => linux_guest::debian_kernel()?,
    };
    let disk = suites.contains(&"busybox").then_some(ext4.as_path());
    let linux = linux_guest::run_with_disk(&kernel, engine, opts.icount, suites, disk)?;
    let unit = if opts.icount { "instructions" } else { "ns" };
    let figures = PAIRS
        .iter()
        .filter_map(|(name, exo_key, linux_key, job)| {
            let mut f = Figure::new(
                name,
                unit,
                value(&exo, exo_key)?,
                value(&linux, linux_key)?,
                job,
            );
            f.exo_engine = engine.to_string();
            f.linux_engine = engine.to_string();
            Some(f)
        })
        .collect();
    Ok((figures, engine))
}

/// exo's benchmark programs for the suites, with their `exo run` options.
fn guest_programs<'a>(suites: &[&str]) -> Vec<(&'a str, &'a [&'a str])> {
    let mut progs: Vec<(&str, &[&str])> = Vec::new();
    if suites.iter().any(|s| *s == "micro" || *s == "ipc") {
        progs.push(("/bin/bench_core", &[]));
    }
    if suites.contains(&"vm") {
        progs.push(("/bin/appel_li", &[]));
    }
    if suites.contains(&"dpf") {
        // The kernel heap (a sixteenth of RAM) bounds the filters all
        // environments may hold: 250 need more than the default RAM gives.
        progs.push(("/bin/dpf_bench", &["--mem", "256M"]));
    }
    progs
}

/// Runs the suite: exo's guest, then Linux's guest on the same engine.
pub fn run(opts: &Options) -> Result<Report, String> {
    let suite = opts.suite;
    let mut figures = Vec::new();
    let mut engine = String::new();
    let machine = machine();
    pin_to_one_cpu();
    let suites: Vec<&str> = [
        ("micro", Suite::Micro),
        ("ipc", Suite::Ipc),
        ("vm", Suite::Vm),
        ("busybox", Suite::Busybox),
        ("dpf", Suite::Dpf),
    ]
    .into_iter()
    .filter(|(_, s)| suite == *s || (suite == Suite::All && *s != Suite::Busybox))
    .map(|(n, _)| n)
    .collect();
    if !suites.is_empty() {
        let (f, e) = guest_pairs(opts, &suites)?;
        figures.extend(f);
        engine = e.to_string();
    }
    let host_suites = !opts.icount;
    if host_suites && matches!(suite, Suite::Dpf | Suite::All) {
        match dpf::figures() {
            Ok(f) => {
                figures.extend(f);
                if engine.is_empty() {
                    engine = "host CPU (DPF's classifier code, as the kernel runs it)".into();
                }
            }
            Err(e) if suite == Suite::All => eprintln!("exo: bench: dpf figures skipped: {e}"),
            Err(e) => return Err(format!("dpf: {e}")),
        }
    }
    // Under -icount, time spent waiting for the disk is idle time QEMU skips
    // to the next timer: not an instruction count, and not repeatable, so
    // the xn suite runs there only when asked for.
    if suite == Suite::Xn || (suite == Suite::All && !opts.icount) {
        match xnfs::figures(opts) {
            Ok((f, e)) => {
                figures.extend(f);
                if engine.is_empty() {
                    engine = e;
                }
            }
            Err(e) if suite == Suite::All => eprintln!("exo: bench: xn figures skipped: {e}"),
            Err(e) => return Err(format!("xn: {e}")),
        }
    }
    if host_suites && matches!(suite, Suite::Net | Suite::All) {
        let r = match net::unavailable() {
            Some(why) => Err(why),
            None => net::figures(opts),
        };
        match r {
            Ok((f, e)) => {
                figures.extend(f);
                if engine.is_empty() {
                    engine = e;
                }
            }
            Err(e) if suite == Suite::All => eprintln!("exo: bench: net figures skipped: {e}"),
            Err(e) => return Err(format!("net: {e}")),
        }
    }
    if opts.icount && suite == Suite::Net {
        return Err(
            "--icount: the net suite times requests from the host's wrk, which no instruction count measures"
                .into(),
        );
    }
    for f in &mut figures {
        if f.exo_engine.is_empty() {
            f.exo_engine = engine.clone();
        }
    }
    Ok(Report {
        engine,
        machine,
        icount: opts.icount,
        figures,
    })
}

impl Report {
    /// The table for a terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let what = match (self.engine.as_str(), self.icount) {
            (_, true) => " (QEMU -icount: guest instructions, repeatable to a percent or two)",
            ("qemu", false) => " (QEMU TCG: emulated time, not hardware speed)",
            ("kvm", false) => " (our VMM on KVM: real time)",
            _ => "",
        };
        let _ = writeln!(
            s,
            "engine: {}{what}\nmachine: {}\n",
            self.engine, self.machine
        );
        let _ = writeln!(
            s,
            "{:<22} {:>13} {:>13} {:<5} {:>9}  {:<11}  linux job",
            "figure", "exo", "linux", "unit", "exo/linux", "engines"
        );
        for f in &self.figures {
            let unit = match f.unit.as_str() {
                "instructions" => "insn",
                "virtual ns" => "vns",
                other => other,
            };
            let engines = if f.same_engine() {
                f.exo_engine.clone()
            } else {
                format!("{}/{}*", f.exo_engine, f.linux_engine)
            };
            let _ = writeln!(
                s,
                "{:<22} {:>13.1} {:>13.1} {:<5} {:>9.2}  {:<11}  {}",
                f.name, f.exo, f.linux, unit, f.ratio, engines, f.linux_job
            );
        }
        if self.figures.iter().any(|f| !f.same_engine()) {
            let _ = writeln!(
                s,
                "\n* exo and Linux on different engines: that ratio compares unlike machines"
            );
        }
        s
    }

    /// The report as JSON (the format `--baseline` reads back).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a report written by `json`.
    pub fn from_json(text: &str) -> Result<Report, String> {
        serde_json::from_str(text).map_err(|e| format!("not an exo bench report: {e}"))
    }

    /// Figures whose exo/linux ratio grew by more than `tolerance_pct`
    /// percent over `baseline`'s (ratios, so a slower or faster machine as
    /// a whole does not count as a regression). Only figures measured alike
    /// (same unit, same engines) are compared.
    pub fn regressions(&self, baseline: &Report, tolerance_pct: f64) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.figures {
            let Some(b) = baseline.figures.iter().find(|b| {
                b.name == f.name
                    && b.unit == f.unit
                    && b.exo_engine == f.exo_engine
                    && b.linux_engine == f.linux_engine
            }) else {
                continue;
            };
            if !(f.ratio.is_finite() && b.ratio.is_finite()) {
                continue;
            }
            let limit = b.ratio * (1.0 + tolerance_pct / 100.0);
            if f.ratio > limit {
                out.push(format!(
                    "{}: exo/linux {:.3} > baseline {:.3} + {tolerance_pct}%",
                    f.name, f.ratio, b.ratio
                ));
            }
        }
        out
    }

    /// How many figures `regressions` can compare with `baseline`.
    pub fn comparable(&self, baseline: &Report) -> usize {
        self.figures
            .iter()
            .filter(|f| {
                baseline.figures.iter().any(|b| {
                    b.name == f.name
                        && b.unit == f.unit
                        && b.exo_engine == f.exo_engine
                        && b.linux_engine == f.linux_engine
                })
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(name: &str, exo: f64, linux: f64) -> Figure {
        let mut f = Figure::new(name, "ns", exo, linux, "j");
        f.exo_engine = "qemu".into();
        f.linux_engine = "qemu".into();
        f
    }

    fn report(figures: Vec<Figure>) -> Report {
        Report {
            engine: "qemu".into(),
            machine: "m".into(),
            icount: false,
            figures,
        }
    }

    #[test]
    fn parses_guest_results() {
        let v = parse_flat_json(r#"{"null_syscall":351,"pct_round_trip":31963,"tsc_mhz":2607}"#);
        assert_eq!(
            v,
            vec![
                ("null_syscall".into(), 351.0),
                ("pct_round_trip".into(), 31963.0),
                ("tsc_mhz".into(), 2607.0)
            ]
        );
        assert!(parse_flat_json("garbage").is_empty());
    }

    #[test]
    fn report_round_trips_and_formats() {
        let mut host = fig("dpf_host_1_filters", 10.0, 20.0);
        host.linux_engine = "host".into();
        let r = report(vec![fig("null_syscall", 100.0, 200.0), host]);
        let t = r.table();
        assert!(t.contains("0.50") && t.contains("emulated time"), "{t}");
        assert!(
            t.contains("qemu/host*") && t.contains("different engines"),
            "{t}"
        );
        let back = Report::from_json(&r.json()).unwrap();
        assert_eq!(back.figures, r.figures);
        assert!(Report::from_json("{}")
            .unwrap_err()
            .contains("not an exo bench report"));
    }

    #[test]
    fn reads_reports_written_before_units_and_engines() {
        let old = r#"{"engine":"qemu","machine":"m","figures":[{"name":"a","exo_ns":1.0,
            "linux_ns":2.0,"ratio":0.5,"linux_job":"j","engine":"qemu"}]}"#;
        let r = Report::from_json(old).unwrap();
        let f = &r.figures[0];
        assert_eq!((f.unit.as_str(), f.exo, f.linux), ("ns", 1.0, 2.0));
        assert_eq!(f.exo_engine, "qemu");
        assert!(!r.icount);
    }

    #[test]
    fn regressions_compare_like_with_like_within_tolerance() {
        let base = report(vec![fig("a", 100.0, 100.0), fig("b", 100.0, 100.0)]);
        let mut other_unit = fig("a", 500.0, 100.0);
        other_unit.unit = "instructions".into();
        let now = report(vec![
            fig("a", 109.0, 100.0),
            fig("b", 130.0, 100.0),
            fig("new", 1.0, 1.0),
            other_unit,
        ]);
        let r = now.regressions(&base, 10.0);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].starts_with("b: exo/linux 1.300 > baseline 1.000"),
            "{r:?}"
        );
        assert_eq!(now.comparable(&base), 2);
    }
}
