//! Lists processes from their process-table entries (each readable by
//! all), with the kernel's view of each environment (status, time slices,
//! ticks run).
#![no_std]
#![no_main]

use core::sync::atomic::Ordering;
use libos::process::{entries, state};
use libos::{info, println};

libos::entry!(main);

fn main() -> u8 {
    println!(
        "{:>6} {:>6} {:<8} {:>6} {:>8}  NAME",
        "PID", "PPID", "STATE", "SLICES", "TICKS"
    );
    for e in entries() {
        let st = e.state.load(Ordering::Acquire);
        if st == state::FREE {
            continue;
        }
        let pid = e.pid.load(Ordering::Relaxed);
        let name = e.name();
        let name = core::str::from_utf8(name.as_bytes()).unwrap_or("?");
        let (slices, ticks) = info::env(pid).map_or((0, 0), |i| (i.slices, i.ticks_run));
        let s = if st == state::ZOMBIE {
            "zombie"
        } else {
            "running"
        };
        println!(
            "{pid:>#6x} {:>#6x} {s:<8} {slices:>6} {ticks:>8}  {name}",
            e.ppid.load(Ordering::Relaxed)
        );
    }
    0
}
