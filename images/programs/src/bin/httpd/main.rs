//! An HTTP/1.1 server on the library OS's network stack, serving documents
//! from a root of the library file system on the XN disk:
//! `httpd [--xio] [IP] [ROOT] [PORT]` (default 10.0.2.15, www, 80); with
//! `--xio`, on XIO's Cheetah-style TCP instead of smoltcp. GET and HEAD,
//! keep-alive and pipelining, 404 for missing documents, 400/405/431/505
//! for bad requests, up to `CONNS` clients at once.
//! Cheetah-style: documents stay in an in-memory cache after the first read
//! and are queued from it (shared, copied only into the socket's send
//! buffer, never per request); the
//! response head and body leave together (merged packets), and smoltcp's
//! delayed ACK lets the answer carry the ACK of the request.
#![no_std]
#![no_main]

extern crate alloc;

mod conn;
mod docs;
mod xio_mode;

use alloc::vec::Vec;
use conn::Conn;
use docs::Docs;
use libos::net::echo::parse_ipv4;
use libos::net::stack::Stack;
use libos::{println, process};
use smoltcp::socket::tcp::State;

libos::entry!(main);

/// Sockets listening at once: smoltcp has no accept backlog, so a SYN that
/// finds no listening socket is refused; this many clients connect at once.
const CONNS: usize = 64;

fn main() -> u8 {
    let mut args = process::args().skip(1).peekable();
    let xio = args.next_if_eq(&"--xio").is_some();
    let ip_text = args.next().unwrap_or("10.0.2.15");
    let root = args.next().unwrap_or("www");
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(80);
    let Some(ip) = parse_ipv4(ip_text) else {
        println!("httpd: '{ip_text}' is not an IPv4 address");
        return 2;
    };
    let mut docs = match Docs::open(0, root) {
        Ok(d) => d,
        Err(e) => {
            println!("httpd: {e}");
            return 2;
        }
    };
    if xio {
        return xio_mode::run(ip, port, root, docs);
    }
    let mut stack = match Stack::new(ip, 24, &[port]) {
        Ok(s) => s,
        Err(e) => {
            println!("httpd: no network: {e:?}");
            return 3;
        }
    };
    let handles: Vec<_> = (0..CONNS)
        .map(|_| stack.listen(port, 8192, 64 * 1024))
        .collect();
    let mut conns: Vec<Conn> = (0..CONNS).map(|_| Conn::default()).collect();
    println!("httpd: serving '{root}' on {ip_text}:{port}");
    loop {
        let mut busy = stack.poll();
        for (h, c) in handles.iter().zip(conns.iter_mut()) {
            let s = stack.tcp(*h);
            // A server socket in TIME-WAIT would be unusable for a while:
            // we closed first, the answer is out, so free it at once.
            if s.state() == State::TimeWait {
                s.abort();
            }
            if s.state() == State::Closed {
                let served = c.served;
                *c = Conn::default();
                c.served = served;
                let _ = s.listen(port);
                continue;
            }
            busy |= c.serve(s, &mut docs);
        }
        if busy {
            continue;
        }
        // Sleep until a packet lands in our ring (the device interrupts
        // the kernel, which demultiplexes at once) or a TCP timer is due.
        stack.wait(100);
    }
}
