//! ns/packet for 1, 10, 100, 1000 installed filters (UDP destination ports), in one run:
//! DPF's JIT, DPF's trie interpreter, DPF's reference interpreter (filter by filter), and
//! the Linux eBPF JIT through BPF_PROG_TEST_RUN, (a) one socket filter per port run in
//! sequence until one accepts, (b) one program with a BPF hash map keyed by port.
//!
//! `cargo run --release -p exo-dpf --features std --example dpf_bench` (as root for eBPF).

mod ebpf;

use exo_dpf::exec::Exec;
use exo_dpf::{Atom, Dpf, Filter, Shift};
use std::hint::black_box;
use std::time::Instant;

const COUNTS: [usize; 4] = [1, 10, 100, 1000];
const PACKETS: usize = 64;

fn port(i: usize) -> u16 {
    1000 + 7 * i as u16
}

fn udp(port: u16) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[23] = 17;
    p[36..38].copy_from_slice(&port.to_be_bytes());
    p
}

/// Packets to installed ports spread evenly (deterministic pseudo-random order).
fn packets(n: usize) -> Vec<(usize, Vec<u8>)> {
    let mut x = 0x2545_f491u32;
    (0..PACKETS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % n;
            (i, udp(port(i)))
        })
        .collect()
}

/// Mean ns per packet of `f` over `pkts`: the best of 5 runs of at least 20 ms each (the
/// least disturbed by other load on the machine).
fn time(pkts: &[(usize, Vec<u8>)], f: impl Fn(&[u8]) -> u32) -> f64 {
    let mut rounds = 1;
    let mut best = f64::MAX;
    let mut trials = 0;
    while trials < 5 {
        let t = Instant::now();
        for _ in 0..rounds {
            for (_, p) in pkts {
                black_box(f(black_box(p)));
            }
        }
        let e = t.elapsed();
        if e.as_millis() < 20 {
            rounds *= 2;
            continue;
        }
        best = best.min(e.as_nanos() as f64 / (rounds * pkts.len()) as f64);
        trials += 1;
    }
    best
}

struct Row {
    n: usize,
    /// Mean time of one insert, including overlap check and incremental recompilation.
    insert_us: f64,
    code: usize,
    jit: f64,
    trie: f64,
    reference: f64,
    seq: Result<f64, String>,
    map: Result<f64, String>,
}

fn dpf_row(n: usize) -> (Row, Vec<(usize, Vec<u8>)>) {
    let mut d = Dpf::default();
    let t = Instant::now();
    for i in 0..n {
        let f = Filter::new(&[
            Atom::eq(12, 2, 0x0800),
            Atom::eq(23, 1, 17),
            Atom::Shift(Shift::IP_HL),
            Atom::eq(2, 2, port(i) as u32),
        ])
        .expect("valid filter");
        d.insert(1, f).expect("disjoint ports");
    }
    let insert_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let pkts = packets(n);
    let x = Exec::new(&d).expect("map the JIT code");
    for (i, p) in &pkts {
        assert_eq!(x.classify(p), Some(*i as u32));
        assert_eq!(d.classify(p), Some(*i as u32));
    }
    let row = Row {
        n,
        insert_us,
        code: d.code().len(),
        jit: time(&pkts, |p| x.run_raw(p)),
        trie: time(&pkts, |p| d.classify(p).unwrap_or(u32::MAX)),
        reference: time(&pkts, |p| d.classify_reference(p).unwrap_or(u32::MAX)),
        seq: Err(String::new()),
        map: Err(String::new()),
    };
    (row, pkts)
}

/// (a): each packet runs the programs in order until the one for its port accepts.
fn ebpf_sequence(n: usize, pkts: &[(usize, Vec<u8>)]) -> std::io::Result<f64> {
    let progs = (0..n)
        .map(|i| ebpf::load(&ebpf::port_program(port(i))))
        .collect::<std::io::Result<Vec<_>>>()?;
    let repeat = if n >= 100 { 200 } else { 2000 };
    let mut total = 0u64;
    for (i, p) in pkts {
        for (j, prog) in progs.iter().enumerate() {
            let (ret, ns) = ebpf::test_run(prog, p, repeat)?;
            total += ns as u64;
            assert_eq!(ret != 0, j == *i, "program {j} on the packet for {i}");
            if ret != 0 {
                break;
            }
        }
    }
    Ok(total as f64 / pkts.len() as f64)
}

/// (b): one program, one hash lookup.
fn ebpf_map(n: usize, pkts: &[(usize, Vec<u8>)]) -> std::io::Result<f64> {
    let ports: Vec<u16> = (0..n).map(port).collect();
    let map = ebpf::port_map(&ports)?;
    let prog = ebpf::load(&ebpf::map_program(&map))?;
    let mut total = 0u64;
    for (i, p) in pkts {
        let (ret, ns) = ebpf::test_run(&prog, p, 20_000)?;
        assert_eq!(ret, *i as u32 + 1);
        total += ns as u64;
    }
    Ok(total as f64 / pkts.len() as f64)
}

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
        let (mut row, pkts) = dpf_row(n);
        row.seq = ebpf_sequence(n, &pkts).map_err(|e| e.to_string());
        row.map = ebpf_map(n, &pkts).map_err(|e| e.to_string());
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
