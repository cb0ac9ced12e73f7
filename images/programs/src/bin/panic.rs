//! Panics: the libOS must print the message and exit with status 101.
#![no_std]
#![no_main]

libos::entry!(main);

fn main() -> u8 {
    let v: [u8; 0] = [];
    let i = libos::sys::ticks() as usize + 3;
    v[i]
}
