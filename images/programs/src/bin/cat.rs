//! Copies files (from the library file system, or /bin/ programs from the
//! initrd, through the posix-flavoured API), or standard input, to
//! standard output.
#![no_std]
#![no_main]

use libos::{posix, println, process};

libos::entry!(main);

fn copy(fd: usize) {
    let mut buf = [0u8; 512];
    while let Ok(n) = posix::read(fd, &mut buf) {
        if n == 0 || posix::write(1, &buf[..n]).is_err() {
            break;
        }
    }
}

fn main() -> u8 {
    let mut status = 0;
    let mut any = false;
    for path in process::args().skip(1) {
        any = true;
        match posix::open(path) {
            Ok(fd) => {
                copy(fd);
                posix::close(fd);
            }
            Err(e) => {
                println!("cat: {path}: {e}");
                status = 1;
            }
        }
    }
    if !any {
        copy(0);
    }
    status
}
