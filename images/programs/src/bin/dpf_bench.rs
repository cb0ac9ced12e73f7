//! The guest side of `exo bench --suite dpf`: TSC cycles per packet that the
//! kernel's DPF takes to demultiplex a received UDP packet with 1, 10, 100
//! and 250 filters installed (one per destination port), measured by
//! `dpf_classify` (the classifier the receive path runs, without a device),
//! as the Linux guest measures its eBPF filters with BPF_PROG_TEST_RUN: the
//! same rules, packets and order. A process holds at most 64 filters, so
//! helper processes (`dpf_bench hold FIRST COUNT`) hold the rest, as
//! distrustful owners: the call must refuse to say which of theirs matched.
//! `dpf_bench check` runs only the refusals (a test).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::x86_64::_rdtsc;
use exo_abi::boot::KERNEL_BASE;
use exo_abi::dpf::MAX_CLASSIFY_REPEAT;
use exo_abi::syscall::{Error, Sysnum};
use exo_dpf::workload::{order, port, udp, PACKETS};
use libos::{posix, println, process, sys};

libos::entry!(main);

/// Installed-filter counts, as the Linux guest's `dpf` suite has them.
const COUNTS: [usize; 4] = [1, 10, 100, 250];
/// Filters each process holds (the kernel allows 64 per environment).
const PER_PROCESS: usize = 50;
const REPEAT: u64 = 1000;
const ROUNDS: usize = 3;
const SIGKILL: u32 = 9;

/// Filter `i`: UDP/IPv4 to `port(i)`, as the Linux guest's program has it.
fn filter(i: usize) -> String {
    format!("12:2=0x0800 23:1=17 ip_hl 2:2={}", port(i))
}

fn main() -> u8 {
    let mut args = process::args().skip(1);
    match args.next() {
        Some("hold") => {
            let first = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
            let count = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
            hold(first, count)
        }
        Some("check") => check(),
        _ => bench(),
    }
}

/// Installs filters `first..first + count`, then waits to be killed.
fn hold(first: usize, count: usize) -> u8 {
    for i in first..first + count {
        if let Err(e) = sys::dpf_insert(&filter(i)) {
            println!("dpf_bench: hold: filter {i} refused: {e:?}");
            return 1;
        }
    }
    loop {
        posix::sleep_ms(1000);
    }
}

/// Installs filters `0..n`: the first `PER_PROCESS` here, the rest in
/// helpers; returns the helpers once the kernel sees all of them.
fn install(n: usize) -> Result<(Vec<u32>, Vec<u32>), String> {
    let mut mine = Vec::new();
    for i in 0..n.min(PER_PROCESS) {
        mine.push(sys::dpf_insert(&filter(i)).map_err(|e| format!("filter {i}: {e:?}"))?);
    }
    let mut helpers = Vec::new();
    let mut first = PER_PROCESS;
    while first < n {
        let count = PER_PROCESS.min(n - first);
        let (f, c) = (format!("{first}"), format!("{count}"));
        let pid = posix::spawn("/bin/dpf_bench", &["dpf_bench", "hold", &f, &c])
            .map_err(|e| format!("helper: {e:?}"))?;
        helpers.push(pid);
        // Its last filter claims packets once it has installed them all.
        let last = udp(port(first + count - 1));
        let deadline = posix::uptime_ms() + 60_000;
        while sys::dpf_classify(&last, 1) != Err(Error::Taken) {
            if posix::uptime_ms() > deadline || process::has_ended(pid) {
                return Err(format!("helper for filters {first}.. never installed them"));
            }
            posix::sleep_ms(10);
        }
        first += count;
    }
    Ok((mine, helpers))
}

fn uninstall(mine: &[u32], helpers: &[u32]) {
    for id in mine {
        let _ = sys::dpf_remove(*id);
    }
    for pid in helpers {
        let _ = posix::kill(*pid, SIGKILL);
        posix::waitpid(*pid);
    }
}

/// Cycles per packet of `n` filters (best of a few rounds), after checking
/// every verdict.
fn measure(n: usize, mine: &[u32]) -> Result<u64, String> {
    let order: Vec<usize> = order(n).collect();
    let frames: Vec<[u8; 60]> = order.iter().map(|&i| udp(port(i))).collect();
    for (&i, f) in order.iter().zip(&frames) {
        let want = match mine.get(i) {
            Some(id) => Ok(Some(*id)),
            None => Err(Error::Taken),
        };
        let got = sys::dpf_classify(f, 1);
        if got != want {
            return Err(format!("packet for filter {i}: {got:?}, not {want:?}"));
        }
    }
    let mut best = u64::MAX;
    for _ in 0..ROUNDS {
        // SAFETY: rdtsc has no side effects.
        let t0 = unsafe { _rdtsc() };
        for f in &frames {
            let _ = sys::dpf_classify(f, REPEAT);
        }
        // SAFETY: as above.
        let t = unsafe { _rdtsc() } - t0;
        best = best.min(t / (PACKETS as u64 * REPEAT));
    }
    Ok(best)
}

fn bench() -> u8 {
    let mut json = String::new();
    for n in COUNTS {
        let (mine, helpers) = match install(n) {
            Ok(x) => x,
            Err(e) => {
                println!("dpf_bench: {n} filters: {e}");
                return 1;
            }
        };
        let r = measure(n, &mine);
        uninstall(&mine, &helpers);
        match r {
            Ok(c) => {
                println!("bench: dpf, {n} filters: {c} cycles/packet");
                json.push_str(&format!("\"dpf_{n}_filters\":{c},"));
            }
            Err(e) => {
                println!("dpf_bench: {n} filters: {e}");
                return 1;
            }
        }
    }
    let tsc_mhz = libos::info::sysinfo().tsc_per_ms / 1000;
    println!("bench-json: {{{json}\"tsc_mhz\":{tsc_mhz}}}");
    0
}

/// What `dpf_classify` refuses, and that it tells only the owner whose
/// filter matched.
fn check() -> u8 {
    let mut ok = true;
    let mut expect = |what: &str, good: bool| {
        ok &= good;
        println!("dpf_bench: {what}: {}", if good { "ok" } else { "WRONG" });
    };
    let pkt = udp(port(0));
    expect(
        "no filter claims the packet",
        sys::dpf_classify(&pkt, 1) == Ok(None),
    );
    let (mine, helpers) = match install(PER_PROCESS + 1) {
        Ok(x) => x,
        Err(e) => {
            println!("dpf_bench: check: {e}");
            return 1;
        }
    };
    expect(
        "its own filter is named",
        sys::dpf_classify(&pkt, 1) == Ok(Some(mine[0])),
    );
    expect(
        "another process's filter is not named",
        sys::dpf_classify(&udp(port(PER_PROCESS)), 1) == Err(Error::Taken),
    );
    // Raw calls, so that the kernel's checks are tried, not the library's.
    let raw = |ptr: u64, len: u64, repeat: u64| {
        // SAFETY: bad arguments on purpose; the kernel must refuse them.
        let r = unsafe { sys::syscall3(Sysnum::DpfClassify as u64, ptr, len, repeat) };
        Error::from_result(r)
    };
    let at = pkt.as_ptr() as u64;
    expect(
        "0 repetitions refused",
        raw(at, 60, 0) == Some(Error::Invalid),
    );
    expect(
        "too many repetitions refused",
        raw(at, 60, MAX_CLASSIFY_REPEAT + 1) == Some(Error::Invalid),
    );
    expect(
        "a frame shorter than Ethernet's header refused",
        raw(at, 13, 1) == Some(Error::Invalid),
    );
    expect(
        "a frame longer than Ethernet's refused",
        raw(at, 1515, 1) == Some(Error::Invalid),
    );
    expect(
        "a frame in kernel memory refused",
        raw(KERNEL_BASE + 0x10_0000, 60, 1) == Some(Error::Fault),
    );
    uninstall(&mine, &helpers);
    expect(
        "the helper's filters went with it",
        sys::dpf_classify(&udp(port(PER_PROCESS)), 1) == Ok(None),
    );
    println!("dpf_bench: check {}", if ok { "passed" } else { "FAILED" });
    (!ok) as u8
}
