//! Makes directories of the library file system: `mkdir DIR...`.
#![no_std]
#![no_main]

use libos::{posix, println, process};

libos::entry!(main);

fn main() -> u8 {
    let mut status = 0;
    for dir in process::args().skip(1) {
        if let Err(e) = posix::mkdir(dir) {
            println!("mkdir: {dir}: {e}");
            status = 1;
        }
    }
    status
}
