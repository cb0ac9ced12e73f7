//! Runs a statically linked Linux program through the library OS's Linux
//! personality: `linux [-v] PATH [ARG...]`, PATH in the initrd (argv[0] is
//! PATH's last component, as a shell would give it); `-v` names each
//! system call the personality does not implement, once.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::{initrd, println, process};

libos::entry!(main);

fn main() -> u8 {
    let mut args: Vec<&str> = process::args().skip(1).collect();
    if args.first() == Some(&"-v") {
        libos::linux::set_verbose(true);
        args.remove(0);
    }
    let Some(path) = args.first() else {
        println!("linux: usage: linux [-v] PATH [ARG...]");
        return 2;
    };
    let Some(image) = initrd::open(path) else {
        println!("linux: {path}: not in the initrd");
        return 127;
    };
    // As the first process it does what init would: prepares the disk
    // (formatting a blank one), which it shuts down cleanly at the end.
    if process::pinfo().ppid == 0 {
        libos::linux::first_process();
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let argv: Vec<&str> = core::iter::once(name)
        .chain(args[1..].iter().copied())
        .collect();
    let e = libos::linux::run(path, image, &argv, &["PATH=/bin", "HOME=/", "TERM=vt100"]);
    println!("linux: {path}: cannot start: {}", e.name());
    126
}
