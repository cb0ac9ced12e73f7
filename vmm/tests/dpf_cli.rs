//! `exo dpf compile|test`: the DPF engine on filter files and pcap captures, and clear
//! errors for bad filter files and captures.

mod common;

use common::exo;

fn temp_file(name: &str, data: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("exo-dpf-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_owned()
}

const FILTERS: &str = "\
# UDP services on IPv4, and ARP
dns:  12:2=0x0800 23:1=17 ip_hl 2:2=53
ntp:  12:2=0x0800 23:1=17 ip_hl 2:2=123
arp env=2: 12:2=0x0806
";

/// Ethernet + IPv4 (header length `ihl` words) + UDP to `port`.
fn udp(port: u16, ihl: u8) -> Vec<u8> {
    let l4 = 14 + 4 * ihl as usize;
    let mut p = vec![0u8; l4 + 8];
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x40 | ihl;
    p[23] = 17;
    p[l4 + 2..l4 + 4].copy_from_slice(&port.to_be_bytes());
    p
}

/// A little-endian microsecond pcap of Ethernet frames.
fn pcap(pkts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, p) in pkts.iter().enumerate() {
        for v in [i as u32, 0, p.len() as u32, p.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn test_reports_which_filter_takes_each_packet() {
    let f = temp_file("ok.filters", FILTERS.as_bytes());
    let mut arp = vec![0u8; 42];
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let pkts = [
        udp(53, 5),
        udp(123, 6),
        udp(54, 5),
        arp,
        udp(53, 5)[..30].to_vec(),
        udp(53, 15),
    ];
    let cap = temp_file("ok.pcap", &pcap(&pkts));
    let o = exo(&["dpf", "test", &f, "--pcap", &cap]);
    assert_eq!(o.status, Some(0), "{}", o.show());
    let lines: Vec<Vec<&str>> = o
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let who: Vec<&str> = lines.iter().take(6).map(|l| *l.last().unwrap()).collect();
    assert_eq!(who, ["dns", "ntp", "-", "arp", "-", "dns"], "{}", o.show());
    for (name, n) in [("dns", "2"), ("ntp", "1"), ("arp", "1"), ("unclaimed", "2")] {
        assert!(lines.contains(&vec![name, n]), "{name} {n}\n{}", o.show());
    }
    assert!(o.stdout.contains("6 packets"), "{}", o.show());
}

#[test]
fn compile_prints_the_merged_trie_and_code_size() {
    let f = temp_file("compile.filters", FILTERS.as_bytes());
    let o = exo(&["dpf", "compile", &f]);
    assert_eq!(o.status, Some(0), "{}", o.show());
    assert!(o.stdout.contains("3 filters"), "{}", o.show());
    assert!(o.stdout.contains("bytes of x86-64"), "{}", o.show());
    // One shared path for both UDP filters: the ethertype edge appears once per constant.
    assert_eq!(o.stdout.matches("12:2=0x800").count(), 1, "{}", o.show());
    assert!(
        o.stdout.contains("2:2=0x35  -> dns (#0, env 1)"),
        "{}",
        o.show()
    );
    assert!(
        o.stdout.contains("12:2=0x806  -> arp (#2, env 2)"),
        "{}",
        o.show()
    );
}

fn rejects(filters: &str, needle: &str) {
    let f = temp_file("bad.filters", filters.as_bytes());
    let o = exo(&["dpf", "compile", &f]);
    assert_eq!(o.status, Some(125), "{}", o.show());
    assert!(
        o.stderr.contains(needle),
        "expected {needle:?}\n{}",
        o.show()
    );
    assert!(!o.stderr.contains("panicked"), "{}", o.show());
}

#[test]
fn bad_filter_files_are_refused_with_the_line() {
    rejects("a: 0:3=1", ":1: atom 1: width 3 (must be 1, 2 or 4 bytes)");
    rejects(
        "a: 0:1=1\n\nb: 0:1&0x1ff=1",
        ":3: atom 1: mask 0x1ff is wider than 1 byte(s)",
    );
    rejects(
        "a: 5000:1=1",
        "reaches byte 5001, past the maximum packet size 2048",
    );
    rejects(
        "a: 12:2=0x800 12:1=9",
        "atoms 1 and 2 contradict each other",
    );
    rejects("a 12:2=0x800", "expected `NAME [env=N] [share]: ATOMS`");
    rejects("a: 12;2=1", "bad atom `12;2=1`");
    rejects("a: 0:1=1 ip_hl", "indirection with no test after it");
    rejects(
        "dns: 12:2=0x0800 23:1=17 ip_hl 2:2=53\nthief env=2: 12:2=0x0800",
        ":2: filter `thief`: overlaps filter `dns` of environment 1, which has not permitted sharing",
    );
    let f = temp_file("missing", b"");
    let _ = std::fs::remove_file(&f);
    rejects_args(&["dpf", "compile", &f], "No such file");
}

fn rejects_args(args: &[&str], needle: &str) {
    let o = exo(args);
    assert_eq!(o.status, Some(125), "{}", o.show());
    assert!(
        o.stderr.contains(needle),
        "expected {needle:?}\n{}",
        o.show()
    );
}

#[test]
fn sharing_lets_another_environment_overlap() {
    let f = temp_file(
        "share.filters",
        b"dns share: 12:2=0x0800 23:1=17 ip_hl 2:2=53\nip env=2: 12:2=0x0800\n",
    );
    let cap = temp_file("share.pcap", &pcap(&[udp(53, 5), udp(80, 5)]));
    let o = exo(&["dpf", "test", &f, "--pcap", &cap]);
    assert_eq!(o.status, Some(0), "{}", o.show());
    let who: Vec<&str> = o
        .stdout
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(who, ["dns", "ip"], "{}", o.show());
}

#[test]
fn bad_captures_are_refused() {
    let f = temp_file("cap.filters", FILTERS.as_bytes());
    let text = temp_file("text.pcap", b"this is not a capture at all");
    rejects_args(&["dpf", "test", &f, "--pcap", &text], "not a pcap file");
    let mut cut = pcap(&[udp(53, 5)]);
    cut.truncate(cut.len() - 3);
    let cut = temp_file("cut.pcap", &cut);
    rejects_args(
        &["dpf", "test", &f, "--pcap", &cut],
        "record 1 is truncated",
    );
    let ng = temp_file(
        "ng.pcap",
        &[
            0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    rejects_args(
        &["dpf", "test", &f, "--pcap", &ng],
        "pcapng is not supported",
    );
}
