//! Answers ARP and ping for an IPv4 address over the raw network calls:
//! `netd [IP] [COUNT]` (default 10.0.2.15, forever). With COUNT it exits
//! after that many echo replies, printing what it saw.
#![no_std]
#![no_main]

use libos::net::echo::{answer, parse_ipv4, Answer};
use libos::{println, sys};

libos::entry!(main);

/// The root capability, which the raw network calls need (they receive only
/// while no environment has a DPF packet ring).
const SLOT: usize = 0;

fn main() -> u8 {
    let mut args = libos::process::args().skip(1);
    let ip_text = args.next().unwrap_or("10.0.2.15");
    let Some(ip) = parse_ipv4(ip_text) else {
        println!("netd: '{ip_text}' is not an IPv4 address");
        return 2;
    };
    let count: u64 = match args.next().map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            println!("netd: the count must be a number");
            return 2;
        }
    };
    let mac = match sys::net_mac() {
        Ok(m) => m,
        Err(e) => {
            println!("netd: no network device ({e:?})");
            return 3;
        }
    };
    println!(
        "netd: {ip_text} at {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, ready",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    let (mut frame, mut out) = ([0u8; 1514], [0u8; 1514]);
    let (mut arps, mut echoes, mut other) = (0u64, 0u64, 0u64);
    while count == 0 || echoes < count {
        let n = match sys::net_recv(&mut frame, SLOT) {
            Ok(0) => {
                let _ = sys::yield_to(None);
                continue;
            }
            Ok(n) => n,
            Err(e) => {
                println!("netd: receive failed: {e:?}");
                return 1;
            }
        };
        let reply = match answer(&frame[..n], mac, ip, &mut out) {
            Answer::Arp(len) => {
                arps += 1;
                len
            }
            Answer::Echo(len) => {
                echoes += 1;
                len
            }
            Answer::Ignored => {
                other += 1;
                continue;
            }
        };
        if let Err(e) = sys::net_send(&out[..reply], SLOT) {
            println!("netd: send failed: {e:?}");
            return 1;
        }
    }
    println!("netd: answered {arps} ARP and {echoes} echo requests, ignored {other} frames");
    0
}
