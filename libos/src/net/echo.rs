//! Answers ARP requests for our address and ICMP echo requests to it: the
//! least a host must do to be pinged. Pure functions on frames, so the
//! host tests them.

pub const ETH_ARP: u16 = 0x0806;
pub const ETH_IPV4: u16 = 0x0800;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const PROTO_ICMP: u8 = 1;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
/// Shortest Ethernet frame without FCS.
const MIN_FRAME: usize = 60;

/// What a frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An ARP request for us: the reply is in `out[..n]`.
    Arp(usize),
    /// An echo request to us: the reply is in `out[..n]`.
    Echo(usize),
    /// Not for us, or malformed.
    Ignored,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds the answer to `frame` for a host at `mac`/`ip` into `out`
/// (which must hold a frame as long as the request).
pub fn answer(frame: &[u8], mac: [u8; 6], ip: [u8; 4], out: &mut [u8]) -> Answer {
    if frame.len() < 14 || out.len() < frame.len().max(MIN_FRAME) {
        return Answer::Ignored;
    }
    let a = match be16(frame, 12) {
        ETH_ARP => arp(frame, mac, ip, out),
        ETH_IPV4 => echo(frame, mac, ip, out),
        _ => Answer::Ignored,
    };
    // Ethernet's minimum frame: pad short answers with zeros.
    match a {
        Answer::Arp(n) | Answer::Echo(n) if n < MIN_FRAME => {
            out[n..MIN_FRAME].fill(0);
            match a {
                Answer::Arp(_) => Answer::Arp(MIN_FRAME),
                _ => Answer::Echo(MIN_FRAME),
            }
        }
        a => a,
    }
}

fn arp(f: &[u8], mac: [u8; 6], ip: [u8; 4], out: &mut [u8]) -> Answer {
    // Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4.
    let a = &f[14..];
    if a.len() < 28
        || be16(a, 0) != 1
        || be16(a, 2) != ETH_IPV4
        || a[4] != 6
        || a[5] != 4
        || be16(a, 6) != ARP_REQUEST
        || a[24..28] != ip
    {
        return Answer::Ignored;
    }
    let n = 14 + 28;
    out[..n].fill(0);
    out[0..6].copy_from_slice(&a[8..14]);
    out[6..12].copy_from_slice(&mac);
    out[12..14].copy_from_slice(&ETH_ARP.to_be_bytes());
    let r = &mut out[14..n];
    r[..6].copy_from_slice(&a[..6]);
    r[6..8].copy_from_slice(&ARP_REPLY.to_be_bytes());
    r[8..14].copy_from_slice(&mac);
    r[14..18].copy_from_slice(&ip);
    r[18..28].copy_from_slice(&a[8..18]); // the asker's MAC and IP
    Answer::Arp(n)
}

fn echo(f: &[u8], mac: [u8; 6], ip: [u8; 4], out: &mut [u8]) -> Answer {
    let p = &f[14..];
    if p.len() < 20 || p[0] >> 4 != 4 {
        return Answer::Ignored;
    }
    let ihl = (p[0] & 0xf) as usize * 4;
    let total = be16(p, 2) as usize;
    if ihl < 20
        || total < ihl + 8
        || total > p.len()
        || p[9] != PROTO_ICMP
        || p[16..20] != ip
        || checksum(&p[..ihl]) != 0
        || be16(p, 6) & 0x3fff != 0 // fragments are not answered
        || p[ihl] != ICMP_ECHO_REQUEST
        || checksum(&p[ihl..total]) != 0
    {
        return Answer::Ignored;
    }
    let n = 14 + total;
    out[..n].copy_from_slice(&f[..n]);
    out[0..6].copy_from_slice(&f[6..12]);
    out[6..12].copy_from_slice(&mac);
    let q = &mut out[14..n];
    // Swap addresses, fresh TTL, recomputed header checksum.
    q[12..16].copy_from_slice(&p[16..20]);
    q[16..20].copy_from_slice(&p[12..16]);
    q[8] = 64;
    q[10..12].fill(0);
    let c = checksum(&q[..ihl]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
    q[ihl] = ICMP_ECHO_REPLY;
    q[ihl + 2..ihl + 4].fill(0);
    let c = checksum(&q[ihl..total]);
    q[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
    Answer::Echo(n)
}

/// Parses a dotted IPv4 address.
pub fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut ip = [0u8; 4];
    let mut parts = s.split('.');
    for b in &mut ip {
        *b = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const IP: [u8; 4] = [10, 0, 2, 15];
    const PEER_IP: [u8; 4] = [10, 0, 2, 1];

    fn arp_request(target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&ETH_ARP.to_be_bytes());
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&PEER_IP);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f
    }

    fn ping(dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut icmp = vec![ICMP_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 1];
        icmp.extend_from_slice(payload);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, PROTO_ICMP, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&PEER_IP);
        ip.extend_from_slice(&dst);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = MAC.to_vec();
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&ETH_IPV4.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&icmp);
        f
    }

    #[test]
    fn answers_arp_for_our_address_only() {
        let mut out = [0xeeu8; 100];
        let Answer::Arp(n) = answer(&arp_request(IP), MAC, IP, &mut out) else {
            panic!("no ARP reply");
        };
        assert_eq!(n, 60);
        assert_eq!(&out[..6], &PEER);
        assert_eq!(be16(&out, 20), ARP_REPLY);
        assert_eq!(&out[22..28], &MAC);
        assert_eq!(&out[28..32], &IP);
        assert_eq!(&out[38..42], &PEER_IP);
        assert!(out[42..60].iter().all(|&b| b == 0), "padding is zeros");
        assert_eq!(
            answer(&arp_request([10, 0, 2, 99]), MAC, IP, &mut out),
            Answer::Ignored
        );
    }

    #[test]
    fn answers_echo_with_valid_checksums() {
        let req = ping(IP, b"hello exo");
        let mut out = [0u8; 200];
        let Answer::Echo(n) = answer(&req, MAC, IP, &mut out) else {
            panic!("no echo reply");
        };
        let ip = &out[14..n];
        assert_eq!(&out[..6], &PEER);
        assert_eq!((&ip[12..16], &ip[16..20]), (&IP[..], &PEER_IP[..]));
        assert_eq!(checksum(&ip[..20]), 0);
        let total = be16(ip, 2) as usize;
        assert_eq!(ip[20], ICMP_ECHO_REPLY);
        assert_eq!(checksum(&ip[20..total]), 0);
        assert_eq!(&ip[28..total], b"hello exo");
    }

    #[test]
    fn ignores_what_is_not_a_valid_ping_to_us() {
        let mut out = [0u8; 200];
        assert_eq!(
            answer(&ping([10, 0, 2, 7], b"x"), MAC, IP, &mut out),
            Answer::Ignored
        );
        let mut bad = ping(IP, b"x");
        bad[14 + 20 + 2] ^= 1; // ICMP checksum
        assert_eq!(answer(&bad, MAC, IP, &mut out), Answer::Ignored);
        let mut short = ping(IP, b"x");
        short.truncate(30);
        assert_eq!(answer(&short, MAC, IP, &mut out), Answer::Ignored);
        let mut lying = ping(IP, b"x");
        lying[14 + 3] = 200; // total length beyond the frame
        assert_eq!(answer(&lying, MAC, IP, &mut out), Answer::Ignored);
        assert_eq!(answer(&[0u8; 5], MAC, IP, &mut out), Answer::Ignored);
    }

    #[test]
    fn parses_addresses() {
        assert_eq!(parse_ipv4("10.0.2.15"), Some(IP));
        for bad in ["", "10.0.2", "10.0.2.15.1", "10.0.2.256", "a.b.c.d"] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }
}
