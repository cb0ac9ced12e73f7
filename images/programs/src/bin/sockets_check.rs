//! The sockets API against the host (10.0.2.1) from 10.0.2.15: answers one
//! UDP datagram on port 7000 in capitals, connects to the host's TCP port
//! 9000 and exchanges a line, then accepts one client on TCP port 7 and
//! echoes what it sends until it closes.
#![no_std]
#![no_main]

use libos::net::stack::Stack;
use libos::{println, sys};

libos::entry!(main);

const HOST: [u8; 4] = [10, 0, 2, 1];
const WAIT_MS: u64 = 60_000;

fn main() -> u8 {
    let mut net = match Stack::new([10, 0, 2, 15], 24, &[]) {
        Ok(s) => s,
        Err(e) => {
            println!("sockets_check: no network: {e:?}");
            return 2;
        }
    };
    let (Ok(udp), Ok(listener)) = (net.udp_bind(7000), net.tcp_listen(7)) else {
        println!("sockets_check: ports refused");
        return 1;
    };
    println!("sockets_check: ready");
    let mut ok = true;
    // UDP: one datagram, answered in capitals.
    let mut buf = [0u8; 1500];
    match net.udp_recv_from(udp, &mut buf, WAIT_MS) {
        Some((n, from, port)) => {
            buf[..n].make_ascii_uppercase();
            ok &= net.udp_send_to(udp, &buf[..n], from, port).is_ok();
            println!("sockets_check: udp: answered {n} bytes from port {port}");
        }
        None => {
            println!("sockets_check: udp: nothing arrived");
            ok = false;
        }
    }
    // TCP, active: a line to the host's server and its answer.
    match net.tcp_connect(HOST, 9000, WAIT_MS) {
        Ok(h) => {
            let line = b"hello from exo\n";
            let sent = net.tcp_write(h, line, WAIT_MS);
            let n = net.tcp_read(h, &mut buf, WAIT_MS);
            let answer = core::str::from_utf8(&buf[..n]).unwrap_or("?").trim_end();
            println!("sockets_check: tcp connect: sent {sent}, got {answer:?}");
            ok &= sent == line.len() && answer == "HELLO FROM EXO";
            net.tcp_close(h);
        }
        Err(e) => {
            println!("sockets_check: tcp connect failed: {e:?}");
            ok = false;
        }
    }
    // TCP, passive: echo one client.
    if net.tcp_accept(listener, WAIT_MS) {
        let mut echoed = 0;
        loop {
            let n = net.tcp_read(listener, &mut buf, WAIT_MS);
            if n == 0 {
                break;
            }
            echoed += net.tcp_write(listener, &buf[..n], WAIT_MS);
        }
        net.tcp_close(listener);
        println!("sockets_check: tcp accept: echoed {echoed} bytes");
        ok &= echoed > 0;
    } else {
        println!("sockets_check: tcp accept: no client");
        ok = false;
    }
    let _ = sys::ticks();
    println!("sockets_check: {}", if ok { "done" } else { "FAILED" });
    (!ok) as u8
}
