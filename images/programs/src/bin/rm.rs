//! Removes files (or, with `-d`, empty directories): `rm [-d] PATH...`.
#![no_std]
#![no_main]

use libos::{posix, println, process};

libos::entry!(main);

fn main() -> u8 {
    let mut status = 0;
    let mut dirs = false;
    for path in process::args().skip(1) {
        if path == "-d" {
            dirs = true;
            continue;
        }
        let r = if dirs {
            posix::rmdir(path)
        } else {
            posix::unlink(path)
        };
        if let Err(e) = r {
            println!("rm: {path}: {e}");
            status = 1;
        }
    }
    status
}
