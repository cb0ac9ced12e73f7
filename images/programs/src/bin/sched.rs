//! The CPU: time slices by position, round robin; directed yield; and
//! excess-time accounting for an environment that ignores its slice-end
//! upcall.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::wakeup::{WkTerm, CMP_GE, TERM_TICKS};
use libos::upcall::{self, Handlers};
use libos::{info, println, spawn, sys};

libos::entry!(main);

static STARTS: AtomicU64 = AtomicU64::new(0);

extern "C" fn worker() -> u8 {
    upcall::register(Handlers {
        slice_start: Some(|| {
            STARTS.fetch_add(1, Ordering::Relaxed);
        }),
        ..Handlers::default()
    })
    .unwrap();
    while STARTS.load(Ordering::Relaxed) < 5 {
        core::hint::spin_loop();
    }
    println!("sched: worker {:#x} ran 5 slices", sys::env_id());
    0
}

extern "C" fn hog() -> u8 {
    // Takes the slice-end upcall but never yields from it.
    upcall::register(Handlers {
        slice_end: Some(|| loop {
            core::hint::spin_loop()
        }),
        ..Handlers::default()
    })
    .unwrap();
    loop {
        core::hint::spin_loop();
    }
}

fn sleep_ticks(n: u64) {
    let until = sys::ticks() + n;
    sys::wakeup(&[WkTerm {
        kind: TERM_TICKS,
        cmp: CMP_GE,
        value: until,
        ..WkTerm::default()
    }])
    .unwrap();
}

fn main() -> u8 {
    let a = spawn::spawn(worker, b"a", 1, Some(1)).unwrap();
    let b = spawn::spawn(worker, b"b", 2, Some(2)).unwrap();
    spawn::wait(a.id);
    spawn::wait(b.id);
    println!("sched: both workers got their slices round robin");

    // Directed yield: a child with no slice runs only when given the CPU.
    let c = spawn::spawn(worker, b"c", 3, None).unwrap();
    sys::slice_alloc(3, c.id, c.slot).unwrap();
    sys::yield_to(Some(c.id)).unwrap();
    spawn::wait(c.id);
    println!("sched: directed yield ran a child");

    let h = spawn::spawn(hog, b"h", 4, Some(4)).unwrap();
    sleep_ticks(20);
    let excess = info::env(h.id).map_or(0, |e| e.excess_ticks);
    println!(
        "sched: hog ignoring its slice end was charged {excess} excess tick(s): {}",
        if excess > 0 { "ok" } else { "WRONG" }
    );
    sys::env_destroy(h.id, h.slot).unwrap();
    (excess == 0) as u8
}
