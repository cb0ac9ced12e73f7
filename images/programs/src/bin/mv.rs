//! Renames a file or directory: `mv FROM TO`.
#![no_std]
#![no_main]

use libos::{posix, println, process};

libos::entry!(main);

fn main() -> u8 {
    let mut args = process::args().skip(1);
    let (Some(from), Some(to), None) = (args.next(), args.next(), args.next()) else {
        println!("usage: mv FROM TO");
        return 2;
    };
    match posix::rename(from, to) {
        Ok(()) => 0,
        Err(e) => {
            println!("mv: {from} -> {to}: {e}");
            1
        }
    }
}
