//! The DPF benchmark (feature `std`): ns/packet for 1, 10, 100, 1000
//! installed filters (UDP destination ports), in one run: DPF's JIT, its
//! trie interpreter, its reference interpreter (filter by filter), and the
//! Linux eBPF JIT through BPF_PROG_TEST_RUN, (a) one socket filter per port
//! run in sequence until one accepts, (b) one program with a BPF hash map
//! keyed by port. Used by the `dpf_bench` example and `exo bench --suite dpf`.

pub mod ebpf;

use crate::exec::Exec;
use crate::workload::{order, port, udp};
use crate::{Atom, Dpf, Filter, Shift};
use std::format;
use std::hint::black_box;
use std::string::{String, ToString};
use std::time::Instant;
use std::vec::Vec;

/// Installed-filter counts measured.
pub const COUNTS: [usize; 4] = [1, 10, 100, 1000];

/// Packets to installed ports (the shared workload), each with its filter.
fn packets(n: usize) -> Vec<(usize, Vec<u8>)> {
    order(n).map(|i| (i, udp(port(i)).to_vec())).collect()
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

/// One count's figures, ns per packet unless said otherwise.
pub struct Row {
    pub n: usize,
    /// Mean time of one insert, including overlap check and incremental recompilation.
    pub insert_us: f64,
    pub code: usize,
    pub jit: f64,
    pub trie: f64,
    pub reference: f64,
    pub seq: Result<f64, String>,
    pub map: Result<f64, String>,
}

/// Packets, each with the index of the filter that should take it.
type Packets = Vec<(usize, Vec<u8>)>;

fn dpf_row(n: usize) -> Result<(Row, Packets), String> {
    let mut d = Dpf::default();
    let t = Instant::now();
    for i in 0..n {
        let f = Filter::new(&[
            Atom::eq(12, 2, 0x0800),
            Atom::eq(23, 1, 17),
            Atom::Shift(Shift::IP_HL),
            Atom::eq(2, 2, port(i) as u32),
        ])
        .map_err(|e| e.to_string())?;
        d.insert(1, f).map_err(|e| e.to_string())?;
    }
    let insert_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let pkts = packets(n);
    let x = Exec::new(&d).map_err(|e| format!("mapping the JIT code: {e}"))?;
    for (i, p) in &pkts {
        if x.classify(p) != Some(*i as u32) || d.classify(p) != Some(*i as u32) {
            return Err(format!("packet for filter {i} misclassified"));
        }
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
    Ok((row, pkts))
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
            if (ret != 0) != (j == *i) {
                return Err(std::io::Error::other(format!(
                    "eBPF program {j} misjudged the packet for {i}"
                )));
            }
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
        if ret != *i as u32 + 1 {
            return Err(std::io::Error::other(format!(
                "eBPF map program misjudged the packet for {i}"
            )));
        }
        total += ns as u64;
    }
    Ok(total as f64 / pkts.len() as f64)
}

/// Measures `n` installed filters; eBPF figures are errors where the kernel
/// refuses BPF (not root, no BPF).
pub fn measure(n: usize) -> Result<Row, String> {
    let (mut row, pkts) = dpf_row(n)?;
    row.seq = ebpf_sequence(n, &pkts).map_err(|e| e.to_string());
    row.map = ebpf_map(n, &pkts).map_err(|e| e.to_string());
    Ok(row)
}
