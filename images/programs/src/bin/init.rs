//! The first program: greets on the console, checks that the timer reaches
//! user mode, then runs the shell and ends the machine with its status.
#![no_std]
#![no_main]

use libos::{println, process, sys};

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
    match process::run("/bin/sh", &["sh"]) {
        Ok(status) => status,
        Err(e) => {
            println!("init: cannot start /bin/sh: {e:?}");
            1
        }
    }
}
