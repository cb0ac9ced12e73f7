//! ns/packet for 1, 10, 100, 1000 installed filters (UDP destination ports), in one run:
//! DPF's JIT, DPF's trie interpreter, DPF's reference interpreter (filter by filter), and
//! the Linux eBPF JIT through BPF_PROG_TEST_RUN, (a) one socket filter per port run in
//! sequence until one accepts, (b) one program with a BPF hash map keyed by port.
//!
//! `cargo run --release -p exo-dpf --features std --example dpf_bench` (as root for eBPF).

use exo_dpf::bench::{measure, COUNTS};

fn cell(r: &Result<f64, String>) -> String {
    match r {
        Ok(v) => format!("{v:.1}"),
        Err(_) => "n/a".into(),
    }
}

fn main() {
    let jit = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable").unwrap_or_default();
    println!("eBPF JIT (net.core.bpf_jit_enable): {}", jit.trim());
    let mut refused = None;
    let mut rows = Vec::new();
    for n in COUNTS {
        let row = match measure(n) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("dpf_bench: {e}");
                std::process::exit(1);
            }
        };
        if let (Err(e), None) | (_, Some(e)) = (&row.seq, row.map.as_ref().err()) {
            refused.get_or_insert_with(|| e.clone());
        }
        rows.push(row);
    }
    println!();
    println!("ns/packet (UDP destination-port filters; packets spread over the installed ports)");
    println!();
    println!("| filters | DPF JIT | DPF trie interp | DPF per-filter interp | eBPF, 1 prog/filter in sequence | eBPF, 1 prog + hash map |");
    println!("|--------:|--------:|----------------:|----------------------:|--------------------------------:|------------------------:|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {} | {} |",
            r.n,
            r.jit,
            r.trie,
            r.reference,
            cell(&r.seq),
            cell(&r.map)
        );
    }
    println!();
    println!("| filters | JIT code bytes | µs per insert (verify, overlap check, trie, incremental JIT) |");
    println!("|--------:|---------------:|------------------------------------------------------------:|");
    for r in &rows {
        println!("| {} | {} | {:.1} |", r.n, r.code, r.insert_us);
    }
    if let Some(e) = refused {
        println!();
        println!("Linux eBPF figures unavailable: BPF_PROG_LOAD/BPF_PROG_TEST_RUN refused: {e}");
    }
}
