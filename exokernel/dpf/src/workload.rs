//! The demultiplexing workload every DPF benchmark uses (the host bench,
//! exo's `dpf_bench` guest program; the Linux guest's `dpf.c` mirrors it):
//! filter `i` claims UDP destination port `port(i)`, and packets go to the
//! installed ports in one fixed pseudo-random order.

/// Packets in one pass.
pub const PACKETS: usize = 64;

/// Filter `i`'s UDP destination port.
pub fn port(i: usize) -> u16 {
    1000 + 7 * i as u16
}

/// A 60-byte Ethernet/IPv4/UDP frame to `port` (IP header length 5).
pub fn udp(port: u16) -> [u8; 60] {
    let mut p = [0u8; 60];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[23] = 17;
    p[36..38].copy_from_slice(&port.to_be_bytes());
    p
}

/// The filter index of each of the `PACKETS` packets with `n` filters
/// installed (xorshift32, so that every implementation can repeat it).
pub fn order(n: usize) -> impl Iterator<Item = usize> {
    let mut x = 0x2545_f491u32;
    (0..PACKETS).map(move |_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as usize % n
    })
}
