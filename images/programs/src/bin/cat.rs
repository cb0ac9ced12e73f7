//! Copies files from the initrd, or standard input, to standard output.
#![no_std]
#![no_main]

use libos::{fd, initrd, println, process};

libos::entry!(main);

fn main() -> u8 {
    let mut status = 0;
    let mut any = false;
    for path in process::args().skip(1) {
        any = true;
        match initrd::open(path) {
            Some(data) => {
                let _ = fd::write(1, data);
            }
            None => {
                println!("cat: {path}: no such file");
                status = 1;
            }
        }
    }
    if !any {
        let mut buf = [0u8; 512];
        while let Ok(n) = fd::read(0, &mut buf) {
            if n == 0 {
                break;
            }
            let _ = fd::write(1, &buf[..n]);
        }
    }
    status
}
