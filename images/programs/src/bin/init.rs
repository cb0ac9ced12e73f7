//! The first program: greets on the console, checks that the timer reaches
//! user mode, and exits.
#![no_std]
#![no_main]

use libos::{println, sys};

libos::entry!(main);

fn main() -> u8 {
    println!("init: hello from ring 3 on the exo exokernel");
    let start = sys::ticks();
    while sys::ticks() < start + 2 {
        core::hint::spin_loop();
    }
    println!(
        "init: timer ticks reach user mode ({} so far)",
        sys::ticks()
    );
    0
}
