//! `exo trace show|stats|export`: reading trace files.

use super::describe::{describe, xn_outcome};
use super::read;
use clap::{Args, Subcommand};
use exo_abi::trace::{event, event_name};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(subcommand)]
    pub command: TraceCommand,
}

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Print every record.
    Show { file: PathBuf },
    /// Count records per event, and those dropped.
    Stats { file: PathBuf },
    /// Convert to a trace that ui.perfetto.dev opens (Chrome JSON format).
    Export {
        #[arg(long, value_name = "OUT")]
        perfetto: PathBuf,
        file: PathBuf,
    },
}

fn load(file: &PathBuf) -> Result<(super::Header, Vec<exo_abi::trace::Record>), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    read(f).map_err(|e| format!("{}: {e}", file.display()))
}

/// Microseconds since the first record.
fn micros(tsc: u64, first: u64, tsc_per_ms: u64) -> f64 {
    if tsc_per_ms == 0 {
        return 0.0;
    }
    tsc.saturating_sub(first) as f64 * 1000.0 / tsc_per_ms as f64
}

pub fn main(args: TraceArgs) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("exo: error: trace: {e}");
            125
        }
    }
}

/// Writes with `write` to stdout, buffered; a reader that stops reading
/// (`exo trace show t.trc | head`) ends the output quietly.
fn to_stdout(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}

fn run(args: TraceArgs) -> Result<(), String> {
    match args.command {
        TraceCommand::Show { file } => {
            let (h, recs) = load(&file)?;
            let first = recs.first().map_or(0, |r| r.tsc);
            to_stdout(|out| {
                for r in &recs {
                    writeln!(
                        out,
                        "{:>12.1} us  env {:>2}  {:<11} {}",
                        micros(r.tsc, first, h.tsc_per_ms),
                        r.env,
                        event_name(r.event),
                        describe(r)
                    )?;
                }
                writeln!(out, "{} records, {} dropped", h.records, h.dropped)
            })?;
        }
        TraceCommand::Stats { file } => {
            let (h, recs) = load(&file)?;
            let mut counts = BTreeMap::new();
            for r in &recs {
                *counts
                    .entry(event_name(r.event).to_string())
                    .or_insert(0u64) += 1;
                // XN refusals and DPF outcomes by kind, for scripted checks.
                let detail = match r.event {
                    event::XN_CALL if r.a1 != 0 => Some(format!("xn_refused {}", xn_outcome(r.a1))),
                    event::XN_UDF if r.a1 != 0 => {
                        Some(format!("xn_udf_refused {}", xn_outcome(r.a1)))
                    }
                    event::DPF_INSERT if r.a0 == u64::MAX => Some("dpf_refused".to_string()),
                    event::DPF_VERDICT if r.a0 == u32::MAX as u64 => {
                        Some("dpf_unclaimed".to_string())
                    }
                    _ => None,
                };
                if let Some(d) = detail {
                    *counts.entry(d).or_insert(0u64) += 1;
                }
            }
            for (name, n) in counts {
                println!("{name:<24} {n}");
            }
            println!(
                "{:<24} {}\n{:<24} {}",
                "records", h.records, "dropped", h.dropped
            );
        }
        TraceCommand::Export { perfetto, file } => {
            let (h, recs) = load(&file)?;
            let first = recs.first().map_or(0, |r| r.tsc);
            let events: Vec<serde_json::Value> = recs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": event_name(r.event), "ph": "i", "s": "t",
                        "ts": micros(r.tsc, first, h.tsc_per_ms), "pid": 1, "tid": r.env,
                        "args": { "detail": describe(r), "a0": format!("{:#x}", r.a0), "a1": format!("{:#x}", r.a1) },
                    })
                })
                .collect();
            let doc =
                serde_json::json!({ "traceEvents": events, "otherData": { "dropped": h.dropped } });
            std::fs::write(&perfetto, doc.to_string())
                .map_err(|e| format!("{}: {e}", perfetto.display()))?;
        }
    }
    Ok(())
}
