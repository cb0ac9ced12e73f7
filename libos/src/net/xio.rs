//! XIO-style TCP for serving cached documents (thesis §5.4, Cheetah): a
//! small server-side TCP that knows what it sends. Responses live in the
//! document cache as whole images (head + body) with the Internet checksum
//! of every MSS-sized chunk computed once, so a segment's checksum costs
//! only its headers; segments are sent with the payload read by the device
//! straight from the cache (`net_send_gather`, no copy), and retransmitted
//! from there too (the cache is the retransmission pool); the ACK of the
//! request rides on the first data segment and the FIN on the last.
//!
//! Deliberately small: in-order receive only (the peer retransmits what we
//! drop), go-back-N retransmission after a timeout, no congestion control
//! (a LAN of one TAP), the peer's window respected.

use super::echo::{self, checksum, Answer};
use super::http::{self, Request};
use super::ring::Ring;
use super::stack::port_filter;
use crate::{sys, time};
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;
use exo_abi::syscall::Error;

/// Our maximum segment size (Ethernet MTU 1500 - 40).
pub const MSS: usize = 1460;
const MAX_CONNS: usize = 64;
const RTO_MS: u64 = 300;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const WINDOW: u16 = 65535;

/// A response as it goes on the wire, with precomputed chunk checksums.
pub struct Response {
    pub image: Vec<u8>,
    /// Unfolded ones-complement sum of each MSS-sized chunk of `image`.
    sums: Vec<u32>,
}

/// The ones-complement sum of `data` (even start), not yet folded.
fn sum(data: &[u8]) -> u32 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

impl Response {
    pub fn new(image: Vec<u8>) -> Response {
        let sums = image.chunks(MSS).map(sum).collect();
        Response { image, sums }
    }

    /// The payload sum of `image[off..off + len]`: precomputed when the
    /// segment is a whole chunk.
    fn payload_sum(&self, off: usize, len: usize) -> u32 {
        if off.is_multiple_of(MSS) && (len == MSS || off + len == self.image.len()) {
            if let Some(&s) = self.sums.get(off / MSS) {
                return s;
            }
        }
        sum(&self.image[off..off + len])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    SynReceived,
    Established,
}

struct Conn {
    peer_ip: [u8; 4],
    peer_mac: [u8; 6],
    peer_port: u16,
    state: State,
    iss: u32,
    snd_una: u32,
    snd_nxt: u32,
    rcv_nxt: u32,
    wnd: u32,
    mss: usize,
    request: Vec<u8>,
    /// The response being sent, the sequence number of its first byte,
    /// and whether a FIN follows it.
    resp: Option<(Rc<Response>, u32, bool)>,
    peer_fin: bool,
    need_ack: bool,
    last_tx: u64,
    done: bool,
}

fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn le(a: u32, b: u32) -> bool {
    a == b || lt(a, b)
}

fn ms() -> u64 {
    time::tsc_to_us(time::tsc()) / 1000
}

/// What the server counted, for the program to report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub segments: u64,
    pub precomputed: u64,
    pub retransmits: u64,
    pub responses: u64,
}

pub struct Server {
    ip: [u8; 4],
    mac: [u8; 6],
    port: u16,
    ring: Ring,
    conns: Vec<Conn>,
    ip_id: u16,
    pub stats: Stats,
}

impl Server {
    /// Claims ARP and ICMP for `ip` and TCP `port`, with our MAC as the only
    /// source we may send from.
    pub fn new(ip: [u8; 4], port: u16) -> Result<Server, Error> {
        let mac = sys::net_mac()?;
        let me = format!("0x{:02x}{:02x}{:02x}{:02x}", ip[0], ip[1], ip[2], ip[3]);
        sys::dpf_insert(&format!("12:2=0x0806 38:4={me}"))?;
        sys::dpf_insert(&format!("12:2=0x0800 23:1=1 30:4={me}"))?;
        sys::dpf_insert(&port_filter(ip, 6, port))?;
        let m = mac;
        sys::dpf_tx_filter(&format!(
            "6:4=0x{:02x}{:02x}{:02x}{:02x} 10:2=0x{:02x}{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ))?;
        Ok(Server {
            ip,
            mac,
            port,
            ring: Ring::create(33)?,
            conns: Vec::new(),
            ip_id: 1,
            stats: Stats::default(),
        })
    }

    /// Takes waiting packets, answers them, sends what is due; whether
    /// anything happened. `serve` turns a request into a response.
    pub fn poll(
        &mut self,
        serve: &mut dyn FnMut(Result<&Request, http::Refusal>) -> Rc<Response>,
    ) -> bool {
        let _ = sys::net_poll();
        let mut busy = false;
        while let Some(frame) = self.ring.recv(|f, _| f.to_vec()) {
            busy = true;
            self.input(&frame, serve);
        }
        let now = ms();
        let (ip, mac, port) = (self.ip, self.mac, self.port);
        for c in self.conns.iter_mut() {
            busy |= output(c, &mut self.stats, &mut self.ip_id, (ip, mac, port), now);
            // A pipelined request may wait behind the response just done.
            Self::next_response(c, serve, &mut self.stats);
        }
        self.conns.retain(|c| !c.done);
        busy
    }

    /// Sleeps until a packet arrives, or a retransmission may be due.
    pub fn wait(&self) {
        let hz = crate::info::sysinfo().hz.max(1);
        let ticks = if self.conns.is_empty() {
            hz
        } else {
            (RTO_MS * hz).div_ceil(1000)
        };
        self.ring.wait(sys::ticks() + ticks.max(1));
    }

    fn input(
        &mut self,
        f: &[u8],
        serve: &mut dyn FnMut(Result<&Request, http::Refusal>) -> Rc<Response>,
    ) {
        let mut out = [0u8; 1514];
        match echo::answer(f, self.mac, self.ip, &mut out) {
            Answer::Arp(n) | Answer::Echo(n) => {
                let _ = sys::net_send(&out[..n], 0);
                return;
            }
            Answer::Ignored => {}
        }
        let Some(seg) = parse(f, self.ip, self.port) else {
            return;
        };
        let at = self
            .conns
            .iter()
            .position(|c| c.peer_ip == seg.src_ip && c.peer_port == seg.src_port);
        if seg.flags & RST != 0 {
            if let Some(i) = at {
                self.conns[i].done = true;
            }
            return;
        }
        let i = match at {
            Some(i) => i,
            None if seg.flags & SYN != 0 && seg.flags & ACK == 0 => {
                if self.conns.len() >= MAX_CONNS {
                    return; // the peer retries its SYN
                }
                let iss = time::tsc() as u32;
                self.conns.push(Conn {
                    peer_ip: seg.src_ip,
                    peer_mac: seg.src_mac,
                    peer_port: seg.src_port,
                    state: State::SynReceived,
                    iss,
                    snd_una: iss,
                    snd_nxt: iss,
                    rcv_nxt: seg.seq.wrapping_add(1),
                    wnd: seg.window as u32,
                    mss: seg.mss.unwrap_or(536).min(MSS),
                    request: Vec::new(),
                    resp: None,
                    peer_fin: false,
                    need_ack: false,
                    last_tx: 0,
                    done: false,
                });
                return; // output() sends the SYN-ACK
            }
            None => return,
        };
        let c = &mut self.conns[i];
        if seg.flags & SYN != 0 {
            // A retransmitted SYN: our SYN-ACK was lost; send it again.
            if c.state == State::SynReceived {
                c.snd_nxt = c.iss;
            }
            return;
        }
        if seg.flags & ACK != 0 && lt(c.snd_una, seg.ack) && le(seg.ack, c.snd_nxt) {
            c.snd_una = seg.ack;
            if c.state == State::SynReceived {
                c.state = State::Established;
            }
        }
        c.wnd = seg.window as u32;
        if !seg.payload.is_empty() {
            if seg.seq == c.rcv_nxt && c.request.len() + seg.payload.len() <= http::MAX_HEAD * 2 {
                c.request.extend_from_slice(seg.payload);
                c.rcv_nxt = c.rcv_nxt.wrapping_add(seg.payload.len() as u32);
            }
            c.need_ack = true;
        }
        if seg.flags & FIN != 0 && seg.seq.wrapping_add(seg.payload.len() as u32) == c.rcv_nxt {
            c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
            c.peer_fin = true;
            c.need_ack = true;
        }
        Self::next_response(c, serve, &mut self.stats);
    }

    /// Starts the next response if a whole request waits and none is going.
    fn next_response(
        c: &mut Conn,
        serve: &mut dyn FnMut(Result<&Request, http::Refusal>) -> Rc<Response>,
        stats: &mut Stats,
    ) {
        if c.resp.is_some() || c.state != State::Established {
            return;
        }
        let (resp, close) = match http::head_end(&c.request) {
            Some(end) => {
                let parsed = http::parse(&c.request[..end]);
                c.request.drain(..end);
                let close = parsed.as_ref().map_or(true, |r| !r.keep_alive);
                (serve(parsed.as_ref().map_err(|e| *e)), close)
            }
            None if c.request.len() > http::MAX_HEAD => {
                c.request.clear();
                (serve(Err(http::Refusal::TooLarge)), true)
            }
            None => return,
        };
        stats.responses += 1;
        c.resp = Some((resp, c.snd_nxt, close));
    }
}

/// Sends what connection `c` owes: SYN-ACK, data within the peer's window,
/// the FIN, a bare ACK, or a retransmission.
fn output(
    c: &mut Conn,
    stats: &mut Stats,
    ip_id: &mut u16,
    (ip, mac, port): ([u8; 4], [u8; 6], u16),
    now: u64,
) -> bool {
    if c.snd_una != c.snd_nxt && now.saturating_sub(c.last_tx) > RTO_MS {
        c.snd_nxt = c.snd_una; // go back: resend from the first unacknowledged byte
        stats.retransmits += 1;
    }
    let mut sent = false;
    if c.state == State::SynReceived {
        if c.snd_nxt == c.iss {
            let h = header(ip, mac, port, c, c.iss, SYN | ACK, 0, ip_id);
            let csum = tcp_checksum(&h, 0);
            send(&h, csum, &[]);
            c.snd_nxt = c.iss.wrapping_add(1);
            c.last_tx = now;
            stats.segments += 1;
        }
        return false;
    }
    if let Some((resp, base, close)) = c.resp.clone() {
        let len = resp.image.len() as u32;
        let end = base.wrapping_add(len);
        let fin_seq = if close { Some(end) } else { None };
        loop {
            let inflight = c.snd_nxt.wrapping_sub(c.snd_una);
            if !lt(c.snd_nxt, end) || inflight >= c.wnd {
                break;
            }
            let off = c.snd_nxt.wrapping_sub(base) as usize;
            let room = (c.wnd - inflight) as usize;
            let n = c.mss.min(resp.image.len() - off).min(room.max(1));
            let last = off + n == resp.image.len();
            let mut flags = ACK;
            if last {
                flags |= PSH;
                if close {
                    flags |= FIN;
                }
            }
            let seq = c.snd_nxt;
            let h = header(ip, mac, port, c, seq, flags, n, ip_id);
            let psum = resp.payload_sum(off, n);
            if off.is_multiple_of(MSS) && (n == MSS || last) {
                stats.precomputed += 1;
            }
            send(&h, tcp_checksum(&h, psum), &resp.image[off..off + n]);
            c.snd_nxt = seq.wrapping_add(n as u32 + (flags & FIN != 0) as u32);
            c.last_tx = now;
            c.need_ack = false;
            stats.segments += 1;
            sent = true;
        }
        let acked_all = match fin_seq {
            Some(f) => c.snd_una == f.wrapping_add(1),
            None => c.snd_una == end,
        };
        if acked_all {
            c.resp = None;
            if close {
                c.done = true;
                return true;
            }
        }
    }
    if c.peer_fin && c.resp.is_none() && !c.done {
        // The client is done and so are we: answer its FIN with ours.
        let h = header(ip, mac, port, c, c.snd_nxt, FIN | ACK, 0, ip_id);
        send(&h, tcp_checksum(&h, 0), &[]);
        stats.segments += 1;
        c.done = true;
        return true;
    }
    if c.need_ack && !sent {
        let h = header(ip, mac, port, c, c.snd_nxt, ACK, 0, ip_id);
        send(&h, tcp_checksum(&h, 0), &[]);
        stats.segments += 1;
        c.need_ack = false;
        sent = true;
    }
    sent
}

/// One received TCP segment to us.
struct Segment<'a> {
    src_mac: [u8; 6],
    src_ip: [u8; 4],
    src_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    mss: Option<usize>,
    payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A valid TCP segment to `ip`:`port` (checksums verified), if `f` is one.
fn parse(f: &[u8], ip: [u8; 4], port: u16) -> Option<Segment<'_>> {
    if f.len() < 54 || be16(f, 12) != 0x0800 {
        return None;
    }
    let p = &f[14..];
    let ihl = (p[0] & 0xf) as usize * 4;
    let total = be16(p, 2) as usize;
    if p[0] >> 4 != 4 || ihl < 20 || total > p.len() || total < ihl + 20 || p[9] != 6 {
        return None;
    }
    if p[16..20] != ip || checksum(&p[..ihl]) != 0 || be16(p, 6) & 0x3fff != 0 {
        return None;
    }
    let t = &p[ihl..total];
    let doff = (t[12] >> 4) as usize * 4;
    if doff < 20 || doff > t.len() || be16(t, 2) != port {
        return None;
    }
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&p[12..16]);
    pseudo[4..8].copy_from_slice(&p[16..20]);
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&(t.len() as u16).to_be_bytes());
    if fold(sum(&pseudo) + sum(t)) != 0xffff {
        return None;
    }
    let mut mss = None;
    let mut o = 20;
    while o < doff {
        match t[o] {
            0 => break,
            1 => o += 1,
            kind => {
                let len = *t.get(o + 1)? as usize;
                if len < 2 || o + len > doff {
                    break;
                }
                if kind == 2 && len == 4 {
                    mss = Some(be16(t, o + 2) as usize);
                }
                o += len;
            }
        }
    }
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&f[6..12]);
    let mut src_ip = [0u8; 4];
    src_ip.copy_from_slice(&p[12..16]);
    Some(Segment {
        src_mac,
        src_ip,
        src_port: be16(t, 0),
        seq: be32(t, 4),
        ack: be32(t, 8),
        flags: t[13],
        window: be16(t, 14),
        mss,
        payload: &t[doff..],
    })
}

/// Ethernet, IPv4 and TCP headers of a segment of `len` payload bytes
/// (24-byte TCP header with our MSS on a SYN); the TCP checksum is left 0.
#[allow(clippy::too_many_arguments)]
fn header(
    ip: [u8; 4],
    mac: [u8; 6],
    port: u16,
    c: &Conn,
    seq: u32,
    flags: u8,
    len: usize,
    ip_id: &mut u16,
) -> Vec<u8> {
    let tcp_len = if flags & SYN != 0 { 24 } else { 20 };
    let mut h = alloc::vec![0u8; 14 + 20 + tcp_len];
    h[..6].copy_from_slice(&c.peer_mac);
    h[6..12].copy_from_slice(&mac);
    h[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + tcp_len + len) as u16;
    let q = &mut h[14..34];
    q[0] = 0x45;
    q[2..4].copy_from_slice(&total.to_be_bytes());
    q[4..6].copy_from_slice(&ip_id.to_be_bytes());
    *ip_id = ip_id.wrapping_add(1);
    q[6] = 0x40; // don't fragment
    q[8] = 64;
    q[9] = 6;
    q[12..16].copy_from_slice(&ip);
    q[16..20].copy_from_slice(&c.peer_ip);
    let cs = checksum(q);
    q[10..12].copy_from_slice(&cs.to_be_bytes());
    let t = &mut h[34..];
    t[0..2].copy_from_slice(&port.to_be_bytes());
    t[2..4].copy_from_slice(&c.peer_port.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&c.rcv_nxt.to_be_bytes());
    t[12] = ((tcp_len / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&WINDOW.to_be_bytes());
    if flags & SYN != 0 {
        t[20..24].copy_from_slice(&[2, 4, (MSS >> 8) as u8, MSS as u8]);
    }
    h
}

/// The TCP checksum of the segment whose headers are `h` and whose payload
/// sums to `payload_sum`.
fn tcp_checksum(h: &[u8], payload_sum: u32) -> u16 {
    let q = &h[14..34];
    let t = &h[34..];
    let seg_len = be16(q, 2) as usize - 20;
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&q[12..16]);
    pseudo[4..8].copy_from_slice(&q[16..20]);
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&(seg_len as u16).to_be_bytes());
    !fold(sum(&pseudo) + sum(t) + fold(payload_sum) as u32)
}

/// Puts the checksum in and hands the segment to the device: headers
/// copied, payload read in place.
fn send(h: &[u8], csum: u16, payload: &[u8]) {
    let mut h = h.to_vec();
    h[34 + 16..34 + 18].copy_from_slice(&csum.to_be_bytes());
    let _ = if payload.is_empty() {
        sys::net_send(&h, 0)
    } else {
        sys::net_send_gather(&h, payload, 0)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precomputed_chunk_sums_equal_direct_ones() {
        let image: Vec<u8> = (0..5000u32).map(|i| (i * 37 % 251) as u8).collect();
        let r = Response::new(image.clone());
        for (off, len) in [
            (0, MSS),
            (MSS, MSS),
            (3 * MSS, image.len() - 3 * MSS),
            (100, 777),
        ] {
            assert_eq!(
                fold(r.payload_sum(off, len)),
                fold(sum(&image[off..off + len]))
            );
        }
    }

    #[test]
    fn checksums_verify_as_the_receiver_does() {
        let c = Conn {
            peer_ip: [10, 0, 2, 1],
            peer_mac: [2, 0, 0, 0, 0, 1],
            peer_port: 40000,
            state: State::Established,
            iss: 7,
            snd_una: 7,
            snd_nxt: 7,
            rcv_nxt: 99,
            wnd: 65535,
            mss: MSS,
            request: Vec::new(),
            resp: None,
            peer_fin: false,
            need_ack: false,
            last_tx: 0,
            done: false,
        };
        let payload: Vec<u8> = (0..1001u32).map(|i| i as u8).collect();
        let mut id = 1;
        let mut h = header(
            [10, 0, 2, 15],
            [2, 0, 0, 0, 0, 2],
            80,
            &c,
            1234,
            ACK,
            payload.len(),
            &mut id,
        );
        let cs = tcp_checksum(&h, sum(&payload));
        h[34 + 16..34 + 18].copy_from_slice(&cs.to_be_bytes());
        let mut frame = h.clone();
        frame.extend_from_slice(&payload);
        // Parse it back as if we were the peer receiving on port 40000.
        let seg = parse(&frame, [10, 0, 2, 1], 40000).expect("valid segment");
        assert_eq!((seg.seq, seg.ack, seg.payload.len()), (1234, 99, 1001));
    }
}
