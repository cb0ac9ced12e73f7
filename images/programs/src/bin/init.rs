//! The first program: greets on the console, checks that the timer reaches
//! user mode, sets up the file system on the disk (formatting a blank disk
//! for XN), then runs the shell and ends the machine with its status.
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
    use libos::files::{prepare_disk, DiskState};
    let disk = prepare_disk();
    match &disk {
        Ok(DiskState::NoDisk) => {}
        Ok(DiskState::Foreign) => println!("init: the disk holds data that is not XN: left alone"),
        Ok(DiskState::Formatted) => {
            println!("init: formatted the blank disk for XN; file system ready")
        }
        Ok(DiskState::Mounted) => println!("init: file system on the XN disk mounted"),
        Err(e) => println!("init: file system unavailable: {e}"),
    }
    let status = process::run("/bin/sh", &["sh"]);
    if matches!(disk, Ok(DiskState::Formatted | DiskState::Mounted)) {
        if let Err(e) = libos::files::shutdown() {
            println!("init: the file system was not shut down cleanly: {e}");
        }
    }
    match status {
        Ok(status) => status,
        Err(e) => {
            println!("init: cannot start /bin/sh: {e:?}");
            1
        }
    }
}
