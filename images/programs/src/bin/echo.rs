//! Prints its arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

libos::entry!(main);

fn main() -> u8 {
    let words: Vec<&str> = libos::process::args().skip(1).collect();
    libos::println!("{}", words.join(" "));
    0
}
