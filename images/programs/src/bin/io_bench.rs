//! Device throughput through the kernel's raw calls:
//! `io_bench blk MIB` reads then writes MIB MiB sequentially in 4 KiB
//! requests; `io_bench net N` transmits N minimum-size frames (ethertype
//! 0x88b5, broadcast). Prints rates measured with the TSC.
#![no_std]
#![no_main]

use libos::time::{tsc, tsc_to_us};
use libos::{println, sys};

libos::entry!(main);

fn rate(what: &str, n: u64, unit: &str, cycles: u64) {
    let us = tsc_to_us(cycles).max(1);
    println!(
        "io_bench: {what}: {n} {unit} in {} ms: {} {unit}/s",
        us / 1000,
        n * 1_000_000 / us
    );
}

fn blk(mib: u64) -> u8 {
    let sectors = match sys::blk_info() {
        Ok(s) => s,
        Err(e) => {
            println!("io_bench: no disk ({e:?})");
            return 2;
        }
    };
    let blocks = mib * 256;
    if blocks * 8 > sectors {
        println!(
            "io_bench: the disk holds {} MiB, fewer than {mib}",
            sectors / 2048
        );
        return 2;
    }
    let mut buf = [0u8; 4096];
    let t = tsc();
    for b in 0..blocks {
        if let Err(e) = sys::blk_read(b * 8, &mut buf, 0) {
            println!("io_bench: read failed at block {b}: {e:?}");
            return 1;
        }
    }
    rate("blk sequential read", mib, "MiB", tsc() - t);
    let t = tsc();
    for b in 0..blocks {
        buf[0] = b as u8;
        if let Err(e) = sys::blk_write(b * 8, &buf, 0) {
            println!("io_bench: write failed at block {b}: {e:?}");
            return 1;
        }
    }
    let _ = sys::blk_flush(0);
    rate("blk sequential write", mib, "MiB", tsc() - t);
    0
}

fn net(n: u64) -> u8 {
    let Ok(mac) = sys::net_mac() else {
        println!("io_bench: no network device");
        return 2;
    };
    let mut f = [0u8; 60];
    f[..6].fill(0xff);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    let t = tsc();
    for i in 0..n {
        f[14..22].copy_from_slice(&i.to_le_bytes());
        if let Err(e) = sys::net_send(&f, 0) {
            println!("io_bench: send failed after {i} frames: {e:?}");
            return 1;
        }
    }
    rate("net transmit (60-byte frames)", n, "frames", tsc() - t);
    0
}

fn main() -> u8 {
    let mut args = libos::process::args().skip(1);
    let what = args.next().unwrap_or("");
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    match (what, n) {
        ("blk", n) if n > 0 => blk(n),
        ("net", n) if n > 0 => net(n),
        _ => {
            println!("usage: io_bench blk MIB | io_bench net FRAMES");
            2
        }
    }
}
