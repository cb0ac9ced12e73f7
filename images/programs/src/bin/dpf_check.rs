//! DPF end to end with real traffic from the host (the guest is 10.0.2.15,
//! the host side of the TAP 10.0.2.1 with a static neighbour entry). Two
//! mutually distrustful processes each claim a UDP port with a filter and
//! receive only their own datagrams in their own packet rings; the second
//! cannot steal or remove the first's filter, and its transmit filter stops
//! it from spoofing. Datagrams to a third port are counted as unclaimed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;
use exo_abi::syscall::Error;
use libos::net::echo::checksum;
use libos::net::ring::Ring;
use libos::{info, posix, println, process, sys};

libos::entry!(main);

const IP: &str = "0x0a00020f"; // 10.0.2.15
const WANT: usize = 3;
/// How long to wait for the host's datagrams, in ticks (100 Hz).
const PATIENCE: u64 = 3000;

fn udp_filter(port: u16) -> alloc::string::String {
    format!("12:2=0x0800 23:1=17 30:4={IP} ip_hl 2:2={port}")
}

fn main() -> u8 {
    let mut args = process::args().skip(1);
    match args.next() {
        Some("b") => second(args.next().and_then(|a| a.parse().ok()).unwrap_or(0)),
        _ => first(),
    }
}

/// Receives `WANT` datagrams, each of which must carry `tag`.
fn receive(who: &str, ring: &mut Ring, tag: &str) -> bool {
    let deadline = sys::ticks() + PATIENCE;
    let mut got = 0;
    let mut ok = true;
    while got < WANT && sys::ticks() < deadline {
        let _ = sys::net_poll();
        match ring.recv(|frame, filter| {
            // Ethernet + IPv4 (ihl 5) + UDP header, then the payload.
            let payload = frame.get(42..).unwrap_or(&[]);
            (payload.starts_with(tag.as_bytes()), filter)
        }) {
            Some((mine, filter)) => {
                got += 1;
                ok &= mine;
                println!(
                    "dpf_check: {who}: packet {got} by filter {filter}: {}",
                    if mine { "mine" } else { "NOT MINE" }
                );
            }
            None => ring.wait(sys::ticks() + 10),
        }
    }
    println!("dpf_check: {who}: received {got} of {WANT}");
    ok && got == WANT
}

fn first() -> u8 {
    let Ok(mac) = sys::net_mac() else {
        println!("dpf_check: no network device");
        return 2;
    };
    let _ = mac;
    let id = match sys::dpf_insert(&udp_filter(7000)) {
        Ok(id) => id,
        Err(e) => {
            println!("dpf_check: a: filter refused: {e:?}");
            return 1;
        }
    };
    let Ok(mut ring) = Ring::create(4) else {
        println!("dpf_check: a: no ring");
        return 1;
    };
    let idtext = format!("{id}");
    let child = match posix::spawn("/bin/dpf_check", &["dpf_check", "b", &idtext]) {
        Ok(c) => c,
        Err(e) => {
            println!("dpf_check: cannot start the second process: {e:?}");
            return 1;
        }
    };
    println!("dpf_check: a ready (filter {id}, port 7000)");
    let mine = receive("a", &mut ring, "to-7000");
    let b = process::wait(child);
    let s = info::sysinfo();
    println!(
        "dpf_check: delivered {}, unclaimed {}, dropped {}",
        s.net_delivered, s.net_unclaimed, s.net_dropped
    );
    let ok = mine && b == 0 && s.net_unclaimed > 0;
    println!("dpf_check: {}", if ok { "done" } else { "FAILED" });
    (!ok) as u8
}

/// A UDP datagram from 10.0.2.15:`sport` to the host's port 9.
fn datagram(mac: [u8; 6], sport: u16) -> Vec<u8> {
    let payload = b"reply";
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = [
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 2, 15, 10, 0, 2, 1,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&9u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum
    f.extend_from_slice(payload);
    f
}

fn second(first_filter: u32) -> u8 {
    let mut ok = true;
    let mut check = |what: &str, good: bool| {
        ok &= good;
        println!(
            "dpf_check: b: {what}: {}",
            if good { "ok" } else { "WRONG" }
        );
    };
    check(
        "a filter overlapping the other process's is refused",
        sys::dpf_insert(&udp_filter(7000)) == Err(Error::Taken),
    );
    check(
        "removing the other process's filter is refused",
        sys::dpf_remove(first_filter) == Err(Error::Denied),
    );
    check(
        "a malformed filter is refused",
        sys::dpf_insert("12:3=1") == Err(Error::Invalid),
    );
    let Ok(mac) = sys::net_mac() else {
        return 2;
    };
    check(
        "sending before taking part in DPF is refused",
        sys::net_send(&datagram(mac, 7001), 0) == Err(Error::Denied),
    );
    let id = sys::dpf_insert(&udp_filter(7001));
    check("its own port is granted", id.is_ok());
    let Ok(mut ring) = Ring::create(4) else {
        return 1;
    };
    check(
        "sending with a receive filter but no transmit filter is refused",
        sys::net_send(&datagram(mac, 7001), 0) == Err(Error::Denied),
    );
    let tx = format!("12:2=0x0800 23:1=17 26:4={IP} ip_hl 0:2=7001");
    check("transmit filter set", sys::dpf_tx_filter(&tx).is_ok());
    check(
        "removing its own transmit filter is refused",
        sys::dpf_tx_filter("") == Err(Error::Invalid),
    );
    check(
        "widening its own transmit filter is refused",
        sys::dpf_tx_filter("12:2=0x0800") == Err(Error::Denied),
    );
    println!("dpf_check: b ready (port 7001)");
    let mine = receive("b", &mut ring, "to-7001");
    check("only its own datagrams arrived", mine);
    check(
        "a datagram from its own port is sent",
        sys::net_send(&datagram(mac, 7001), 0).is_ok(),
    );
    check(
        "a spoofed datagram (another port) is refused",
        sys::net_send(&datagram(mac, 53), 0) == Err(Error::Denied),
    );
    // Gathered: the head copied, the payload from our own pages.
    let (good, spoofed) = (datagram(mac, 7001), datagram(mac, 53));
    check(
        "a spoofed datagram sent by gather is refused",
        sys::net_send_gather(&spoofed[..42], &spoofed[42..], 0) == Err(Error::Denied),
    );
    check(
        "a datagram from its own port is sent by gather",
        sys::net_send_gather(&good[..42], &good[42..], 0).is_ok(),
    );
    (!ok) as u8
}
