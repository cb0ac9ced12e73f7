//! Writes its words (or standard input, if none) to a file of the library
//! file system and makes it durable: `write [-a] FILE [WORD...]` (`-a`
//! appends).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::posix::{self, o};
use libos::{println, process};

libos::entry!(main);

fn main() -> u8 {
    let mut args = process::args().skip(1).peekable();
    let append = args.next_if_eq(&"-a").is_some();
    let Some(path) = args.next() else {
        println!("usage: write [-a] FILE [WORD...]");
        return 2;
    };
    let words: Vec<&str> = args.collect();
    let mode = if append { o::APPEND } else { o::TRUNC };
    let fd = match posix::open_with(path, o::WRITE | o::CREATE | mode) {
        Ok(fd) => fd,
        Err(e) => {
            println!("write: {path}: {e}");
            return 1;
        }
    };
    let mut ok = true;
    if words.is_empty() {
        let mut buf = [0u8; 512];
        while let Ok(n) = posix::read(0, &mut buf) {
            if n == 0 {
                break;
            }
            ok &= posix::write(fd, &buf[..n]).is_ok();
        }
    } else {
        let mut line = words.join(" ");
        line.push('\n');
        ok &= posix::write(fd, line.as_bytes()).is_ok();
    }
    let synced = posix::fsync(fd);
    posix::close(fd);
    match (ok, synced) {
        (true, Ok(())) => 0,
        (_, Err(e)) => {
            println!("write: {path}: {e}");
            1
        }
        (false, _) => {
            println!("write: {path}: write failed");
            1
        }
    }
}
