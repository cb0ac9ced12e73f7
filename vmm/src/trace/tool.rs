//! `exo trace show|stats|export`: reading trace files.

use super::read;
use clap::{Args, Subcommand};
use exo_abi::trace::event_name;
use std::collections::BTreeMap;
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

fn run(args: TraceArgs) -> Result<(), String> {
    match args.command {
        TraceCommand::Show { file } => {
            let (h, recs) = load(&file)?;
            let first = recs.first().map_or(0, |r| r.tsc);
            for r in &recs {
                println!(
                    "{:>12.1} us  env {:>2}  {:<10} {:#x} {:#x}",
                    micros(r.tsc, first, h.tsc_per_ms),
                    r.env,
                    event_name(r.event),
                    r.a0,
                    r.a1
                );
            }
            println!("{} records, {} dropped", h.records, h.dropped);
        }
        TraceCommand::Stats { file } => {
            let (h, recs) = load(&file)?;
            let mut counts = BTreeMap::new();
            for r in &recs {
                *counts.entry(event_name(r.event)).or_insert(0u64) += 1;
            }
            for (name, n) in counts {
                println!("{name:<12} {n}");
            }
            println!("records      {}\ndropped      {}", h.records, h.dropped);
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
                        "args": { "a0": format!("{:#x}", r.a0), "a1": format!("{:#x}", r.a1) },
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
