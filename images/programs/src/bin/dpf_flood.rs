//! A hostile program: floods DPF with filters until the kernel refuses, from
//! a row of processes that each keep theirs (DPF_INSERT needs no
//! capability), then checks that the kernel still serves (memory, a new
//! process) and that filters fit again once their owners are killed. Before DPF's
//! filters were charged and bounded, about 600 of these panicked the kernel
//! ("memory allocation ... failed").
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libos::{posix, println, sys};

libos::entry!(main);

/// Flooding processes at most.
const PROCESSES: u32 = 40;
const SIGKILL: u32 = 9;

/// Filter `n`: 16 atoms, disjoint from every other `n` by its first one.
fn filter(n: u32) -> String {
    let mut f = format!("0:2={}", n & 0xffff);
    for i in 1..16u32 {
        f.push_str(&format!(" {}:2={}", 2 * i, i));
    }
    f
}

/// Inserts filters `first..` until refused; how many it got.
fn flood(who: u32, first: u32) -> u32 {
    let mut n = 0;
    let refusal = loop {
        match sys::dpf_insert(&filter(first + n)) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    println!(
        "dpf_flood: process {who} holds {n} filters, then refused: {}",
        refusal.name()
    );
    n
}

fn main() -> u8 {
    let mut next = flood(0, 0);
    let mut pids = Vec::new();
    // Each child floods, says how many it got, and keeps them (it stays).
    for who in 1..PROCESSES {
        let Ok((r, w)) = posix::pipe() else {
            return 2;
        };
        match posix::fork() {
            Ok(0) => {
                let n = flood(who, next);
                let _ = posix::write(w, &n.to_le_bytes());
                loop {
                    let _ = sys::yield_to(None);
                }
            }
            Ok(pid) => pids.push(pid),
            Err(e) => {
                println!("dpf_flood: fork refused: {}", e.name());
                break;
            }
        }
        let mut got = [0u8; 4];
        let ok = posix::read(r, &mut got) == Ok(4);
        posix::close(r);
        posix::close(w);
        let n = u32::from_le_bytes(got);
        next += n;
        if !ok || n == 0 {
            break;
        }
    }
    println!(
        "dpf_flood: {next} filters held by {} processes",
        pids.len() + 1
    );
    let memory: Vec<u8> = (0..1u32 << 20).map(|i| i as u8).collect();
    let child = match posix::fork() {
        Ok(0) => posix::exit(7),
        Ok(pid) => posix::waitpid(pid),
        Err(_) => 0,
    };
    println!(
        "dpf_flood: the kernel still serves: 1 MiB allocated {}, a child exited {child}",
        memory.len() == 1 << 20
    );
    for pid in &pids {
        let _ = posix::kill(*pid, SIGKILL);
        posix::waitpid(*pid);
    }
    // Their filters went with them: a new process gets one again.
    let again = match posix::fork() {
        Ok(0) => posix::exit(sys::dpf_insert(&filter(next)).is_err() as u8),
        Ok(pid) => posix::waitpid(pid) == 0,
        Err(_) => false,
    };
    println!("dpf_flood: after the others were killed, a filter fits again: {again}");
    (child != 7 || !again) as u8
}
