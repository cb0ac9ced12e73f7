//! File-system figures on the library file system over XN, as the first
//! program: `fs_bench write MIB` makes /bench/big (MIB MiB, at most 2, the
//! largest cffs file); `fs_bench run`
//! (best after a reboot, so the big file is read cold) times small-file
//! create+write+fsync, cached reads, unlinks and the sequential read of
//! /bench/big, and prints them as `bench-json:` (ns).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec;
use libos::posix::{self, o};
use libos::time::tsc;
use libos::{files, info, println, process};

libos::entry!(main);

const SMALL: usize = 32;
const SMALL_SIZE: usize = 1024;
const CHUNK: usize = 64 * 1024;

fn ns(cycles: u64) -> u64 {
    (cycles as u128 * 1_000_000 / info::sysinfo().tsc_per_ms.max(1) as u128) as u64
}

fn fail(what: &str, e: impl core::fmt::Display) -> u8 {
    println!("fs_bench: {what}: {e}");
    1
}

fn write_big(mib: usize) -> u8 {
    let _ = posix::mkdir("/bench");
    let fd = match posix::open_with("/bench/big", o::WRITE | o::CREATE | o::TRUNC) {
        Ok(fd) => fd,
        Err(e) => return fail("create /bench/big", e),
    };
    let chunk: vec::Vec<u8> = (0..CHUNK).map(|i| (i * 7) as u8).collect();
    let t = tsc();
    for _ in 0..mib * (1 << 20) / CHUNK {
        if let Err(e) = posix::write(fd, &chunk) {
            return fail("write", format!("{e:?}"));
        }
    }
    if let Err(e) = posix::fsync(fd) {
        return fail("fsync", e);
    }
    posix::close(fd);
    println!(
        "fs_bench: wrote {mib} MiB in {} ms",
        ns(tsc() - t) / 1_000_000
    );
    0
}

fn run() -> u8 {
    let _ = posix::mkdir("/bench");
    let data = [0x5au8; SMALL_SIZE];
    let name = |i: usize| format!("/bench/s{i}");
    let t = tsc();
    for i in 0..SMALL {
        let fd = match posix::open_with(&name(i), o::WRITE | o::CREATE | o::TRUNC) {
            Ok(fd) => fd,
            Err(e) => return fail("create", e),
        };
        if posix::write(fd, &data).is_err() {
            return fail("write", "small file");
        }
        if let Err(e) = posix::fsync(fd) {
            return fail("fsync", e);
        }
        posix::close(fd);
    }
    let create = ns(tsc() - t) / SMALL as u64;
    let mut buf = [0u8; SMALL_SIZE];
    let t = tsc();
    for i in 0..SMALL {
        let Ok(fd) = posix::open(&name(i)) else {
            return fail("open", name(i));
        };
        if posix::read(fd, &mut buf) != Ok(SMALL_SIZE) || buf != data {
            return fail("read", name(i));
        }
        posix::close(fd);
    }
    let read = ns(tsc() - t) / SMALL as u64;
    let t = tsc();
    for i in 0..SMALL {
        if let Err(e) = posix::unlink(&name(i)) {
            return fail("unlink", e);
        }
    }
    let unlink = ns(tsc() - t) / SMALL as u64;
    let _ = posix::sync();
    // The big file, read sequentially (cold if this boot has not read it).
    let size = match posix::stat("/bench/big") {
        Ok(s) => s.size as usize,
        Err(e) => return fail("/bench/big (run `fs_bench write MIB` first)", e),
    };
    let Ok(fd) = posix::open("/bench/big") else {
        return fail("open", "/bench/big");
    };
    let mut chunk = vec![0u8; CHUNK];
    let t = tsc();
    let mut total = 0;
    while let Ok(n) = posix::read(fd, &mut chunk) {
        if n == 0 {
            break;
        }
        total += n;
    }
    let seq = ns(tsc() - t);
    posix::close(fd);
    if total != size {
        return fail("sequential read", format!("{total} of {size} bytes"));
    }
    let per_mib = seq * (1 << 20) / size.max(1) as u64;
    println!(
        "bench-json: {{\"xn_create_fsync\":{create},\"xn_read_cached\":{read},\"xn_unlink\":{unlink},\"xn_seq_read_mib\":{per_mib}}}"
    );
    0
}

fn main() -> u8 {
    match files::prepare_disk() {
        Ok(files::DiskState::Formatted | files::DiskState::Mounted) => {}
        Ok(other) => return fail("disk", format!("{other:?}")),
        Err(e) => return fail("disk", e),
    }
    let mut args = process::args().skip(1);
    let status = match args.next() {
        Some("write") => write_big(args.next().and_then(|a| a.parse().ok()).unwrap_or(1)),
        Some("run") => run(),
        _ => {
            println!("usage: fs_bench write MIB | run");
            2
        }
    };
    let _ = files::shutdown();
    status
}
