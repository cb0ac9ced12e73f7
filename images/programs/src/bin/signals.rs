//! Signals over asynchronous PCT: a child catches SIGUSR1 with a handler,
//! dies of SIGTERM's default action (status 128+15), and a spinning child
//! is ended by SIGKILL (its parent destroys it: status 137).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use libos::fork::fork;
use libos::{println, process, signal, time};

libos::entry!(main);

static GOT: AtomicU32 = AtomicU32::new(0);

fn on_usr1(sig: u32) {
    GOT.store(sig, Ordering::Relaxed);
}

fn main() -> u8 {
    signal::signal(signal::SIGUSR1, Some(on_usr1)).unwrap();
    let pid = fork().unwrap();
    if pid == 0 {
        while GOT.load(Ordering::Relaxed) == 0 {
            time::sleep_ticks(1);
        }
        println!(
            "signals: child caught signal {}",
            GOT.load(Ordering::Relaxed)
        );
        loop {
            time::sleep_ticks(1); // until SIGTERM
        }
    }
    time::sleep_ticks(2);
    signal::kill(pid, signal::SIGUSR1).unwrap();
    time::sleep_ticks(5);
    signal::kill(pid, signal::SIGTERM).unwrap();
    let term = process::wait(pid);
    println!("signals: SIGTERM ended the child with status {term}");

    let spinner = fork().unwrap();
    if spinner == 0 {
        loop {
            core::hint::spin_loop();
        }
    }
    time::sleep_ticks(2);
    signal::kill(spinner, signal::SIGKILL).unwrap();
    let killed = process::wait(spinner);
    println!("signals: SIGKILL ended the spinning child with status {killed}");
    let ok = term == 143 && killed == 137;
    println!("signals: {}", if ok { "ok" } else { "WRONG" });
    (!ok) as u8
}
