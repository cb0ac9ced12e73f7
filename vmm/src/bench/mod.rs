//! `exo bench`: runs the guest's benchmark programs and, in the same run, the
//! Linux host doing the same jobs; reports each figure with the ratio, the
//! engine and the machine: ratios, never absolute claims.

pub mod chart;
mod dpf;
pub mod linux;
mod net;
mod xnfs;

use std::fmt::Write as _;
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
    /// DPF packet classification against Linux eBPF, 1 to 1000 filters.
    Dpf,
    /// HTTP requests/s of httpd in the guest against nginx (root, wrk, nginx).
    Net,
    /// File-system operations over XN (checks on and off) and cold reads.
    Xn,
    All,
}

/// One figure: the guest's and Linux's cost of the same job, in ns.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figure {
    pub name: String,
    pub exo_ns: f64,
    pub linux_ns: f64,
    /// exo_ns / linux_ns.
    pub ratio: f64,
    /// What Linux did for this figure.
    pub linux_job: String,
    /// Where exo's side ran: the guest's engine (kvm, qemu), or "host" for
    /// engine code timed on the host CPU (DPF).
    #[serde(default)]
    pub engine: String,
}

/// A whole run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub engine: String,
    pub machine: String,
    pub figures: Vec<Figure>,
}

/// Parses a flat `{"key":number,...}` object (what the guest prints).
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

/// Runs guest program `prog`; returns its figures in ns and the engine line.
fn run_guest(prog: &str) -> Result<(Vec<(String, f64)>, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["run", "--init", prog, "--timeout", "600"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the guest: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (engine, json) = engine_and_results(&stdout, &stderr);
    let json = json.ok_or_else(|| {
        format!(
            "{prog} printed no results (status {:?}):\n{stdout}{stderr}",
            out.status.code()
        )
    })?;
    let raw = parse_flat_json(json);
    let mhz = raw
        .iter()
        .find(|(k, _)| k == "tsc_mhz")
        .map(|(_, v)| *v)
        .filter(|&v| v > 0.0)
        .ok_or("the guest did not report its TSC frequency")?;
    let ns = raw
        .into_iter()
        .filter(|(k, _)| k != "tsc_mhz")
        .map(|(k, cycles)| (k, cycles * 1000.0 / mhz))
        .collect();
    Ok((ns, engine))
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

fn pair(guest: &[(String, f64)], name: &str, linux_ns: f64, linux_job: &str) -> Option<Figure> {
    let exo_ns = guest.iter().find(|(k, _)| k == name)?.1;
    Some(Figure {
        name: name.into(),
        exo_ns,
        linux_ns,
        ratio: exo_ns / linux_ns,
        linux_job: linux_job.into(),
        engine: String::new(),
    })
}

/// Runs `suite`: the guest first, then Linux, on this machine.
pub fn run(suite: Suite) -> Result<Report, String> {
    let mut figures = Vec::new();
    let mut engine = String::new();
    let machine = machine();
    linux::pin_to_one_cpu();
    if matches!(suite, Suite::Micro | Suite::Ipc | Suite::All) {
        let (g, e) = run_guest("/bin/bench_core")?;
        engine = e;
        if matches!(suite, Suite::Micro | Suite::All) {
            figures.extend(
                [
                    pair(
                        &g,
                        "null_syscall",
                        linux::null_syscall(),
                        "syscall(SYS_getpid)",
                    ),
                    pair(
                        &g,
                        "upcall_round_trip",
                        linux::upcall_round_trip(),
                        "int3 -> SIGTRAP handler -> resume",
                    ),
                    pair(
                        &g,
                        "reflected_syscall",
                        linux::null_syscall(),
                        "syscall(SYS_getpid)",
                    ),
                    pair(
                        &g,
                        "fork_exit_wait",
                        linux::fork_exit_wait(),
                        "fork + _exit + waitpid",
                    ),
                ]
                .into_iter()
                .flatten(),
            );
        }
        if matches!(suite, Suite::Ipc | Suite::All) {
            let pipe = linux::pipe_round_trip();
            figures.extend(
                [
                    pair(&g, "pct_round_trip", pipe, "pipe RPC between two processes"),
                    pair(
                        &g,
                        "yield_round_trip",
                        linux::yield_round_trip(),
                        "sched_yield ping-pong",
                    ),
                    pair(&g, "pipe_round_trip", pipe, "1-byte pipe ping-pong"),
                ]
                .into_iter()
                .flatten(),
            );
        }
    }
    if matches!(suite, Suite::Vm | Suite::All) {
        let (g, e) = run_guest("/bin/appel_li")?;
        engine = e;
        for (name, ns) in linux::appel_li() {
            let job = if name == "appel_dirty" {
                "pread of /proc/self/pagemap"
            } else {
                "mprotect + SIGSEGV"
            };
            figures.extend(pair(&g, name, ns, job));
        }
    }
    if matches!(suite, Suite::Dpf | Suite::All) {
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
    if matches!(suite, Suite::Xn | Suite::All) {
        match xnfs::figures() {
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
    if matches!(suite, Suite::Net | Suite::All) {
        let r = match net::unavailable() {
            Some(why) => Err(why),
            None => net::figures(),
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
    for f in &mut figures {
        if f.engine.is_empty() {
            f.engine = engine.clone();
        }
    }
    Ok(Report {
        engine,
        machine,
        figures,
    })
}

impl Report {
    /// The table for a terminal.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let soft = if self.engine == "qemu" {
            " (QEMU TCG: software emulation, not hardware speed)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "engine: {}{soft}\nmachine: {}\n",
            self.engine, self.machine
        );
        let _ = writeln!(
            s,
            "{:<26} {:>12} {:>12} {:>10}  {:<6}  linux job",
            "figure", "exo ns", "linux ns", "exo/linux", "engine"
        );
        for f in &self.figures {
            let _ = writeln!(
                s,
                "{:<26} {:>12.1} {:>12.1} {:>10.2}  {:<6}  {}",
                f.name, f.exo_ns, f.linux_ns, f.ratio, f.engine, f.linux_job
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
    /// a whole does not count as a regression).
    pub fn regressions(&self, baseline: &Report, tolerance_pct: f64) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.figures {
            let Some(b) = baseline.figures.iter().find(|b| b.name == f.name) else {
                continue;
            };
            if !(f.ratio.is_finite() && b.ratio.is_finite()) {
                continue;
            }
            let limit = b.ratio * (1.0 + tolerance_pct / 100.0);
            if f.ratio > limit {
                out.push(format!(
                    "{}: exo/linux {:.2} > baseline {:.2} + {tolerance_pct}%",
                    f.name, f.ratio, b.ratio
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(name: &str, exo: f64, linux: f64) -> Figure {
        Figure {
            name: name.into(),
            exo_ns: exo,
            linux_ns: linux,
            ratio: exo / linux,
            linux_job: "j".into(),
            engine: String::new(),
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
        let r = Report {
            engine: "qemu".into(),
            machine: "m".into(),
            figures: vec![fig("null_syscall", 100.0, 200.0)],
        };
        assert!(r.table().contains("0.50") && r.table().contains("software emulation"));
        let back = Report::from_json(&r.json()).unwrap();
        assert_eq!(back.figures, r.figures);
        assert!(Report::from_json("{}")
            .unwrap_err()
            .contains("not an exo bench report"));
    }

    #[test]
    fn regressions_compare_ratios_with_tolerance() {
        let base = Report {
            engine: "qemu".into(),
            machine: "m".into(),
            figures: vec![fig("a", 100.0, 100.0), fig("b", 100.0, 100.0)],
        };
        let now = Report {
            engine: "qemu".into(),
            machine: "m".into(),
            figures: vec![
                fig("a", 109.0, 100.0),
                fig("b", 130.0, 100.0),
                fig("new", 1.0, 1.0),
            ],
        };
        let r = now.regressions(&base, 10.0);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].starts_with("b: exo/linux 1.30 > baseline 1.00"),
            "{r:?}"
        );
    }
}
