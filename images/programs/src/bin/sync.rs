//! Writes every change to the library file system to disk (each process
//! caches its own changes; `write` and `fsync` already sync their files).
#![no_std]
#![no_main]

use libos::{posix, println};

libos::entry!(main);

fn main() -> u8 {
    match posix::sync() {
        Ok(()) => 0,
        Err(e) => {
            println!("sync: {e}");
            1
        }
    }
}
