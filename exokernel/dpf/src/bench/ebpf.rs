//! The Linux side of the benchmark: equivalent socket filters as raw eBPF instructions,
//! loaded with the `bpf` system call and timed in the kernel by `BPF_PROG_TEST_RUN`
//! (the kernel's own per-run average, so no system-call overhead is charged to Linux).

use std::format;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::string::String;
use std::vec;
use std::vec::Vec;

const BPF_MAP_CREATE: i64 = 0;
const BPF_MAP_UPDATE_ELEM: i64 = 2;
const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_TEST_RUN: i64 = 10;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
const ATTR: usize = 128;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// `r6 = ctx; r0 = dport` of an IPv4/UDP packet, else jump to the instruction `fail`
/// places after this prefix. The skb starts at the IP header (test runs pull Ethernet).
fn udp_dport(fail: i16) -> Vec<Insn> {
    vec![
        insn(0xbf, 6, 1, 0, 0),             // r6 = r1 (LD_ABS needs ctx in r6)
        insn(0x61, 0, 1, 16, 0),            // r0 = skb->protocol
        insn(0x55, 0, 0, fail + 7, 0x0008), // if r0 != htons(ETH_P_IP) goto fail
        insn(0x30, 0, 0, 0, 9),             // r0 = ip->protocol
        insn(0x55, 0, 0, fail + 5, 17),     // if r0 != UDP goto fail
        insn(0x30, 0, 0, 0, 0),             // r0 = ip->version_ihl
        insn(0x57, 0, 0, 0, 0x0f),          // r0 &= 0xf
        insn(0x67, 0, 0, 0, 2),             // r0 <<= 2
        insn(0xbf, 7, 0, 0, 0),             // r7 = r0
        insn(0x48, 0, 7, 0, 2),             // r0 = ntohs(*(u16 *)(ip + r7 + 2))
    ]
}

/// Accepts (returns 1) UDP/IPv4 packets to `port`.
pub fn port_program(port: u16) -> Vec<Insn> {
    let mut p = udp_dport(3);
    p.extend([
        insn(0x55, 0, 0, 2, port as i32), // if r0 != port goto fail
        insn(0xb7, 0, 0, 0, 1),           // r0 = 1
        insn(0x95, 0, 0, 0, 0),           // exit
        insn(0xb7, 0, 0, 0, 0),           // fail: r0 = 0
        insn(0x95, 0, 0, 0, 0),
    ]);
    p
}

/// Returns 1 + the id the hash map holds for the packet's UDP port, 0 if none.
pub fn map_program(map: &OwnedFd) -> Vec<Insn> {
    let mut p = udp_dport(10);
    p.extend([
        insn(0x63, 10, 0, -4, 0),             // *(u32 *)(r10 - 4) = r0
        insn(0x18, 1, 1, 0, map.as_raw_fd()), // r1 = map (ld_imm64, pseudo map fd)
        insn(0x00, 0, 0, 0, 0),
        insn(0xbf, 2, 10, 0, 0), // r2 = r10
        insn(0x07, 2, 0, 0, -4), // r2 -= 4
        insn(0x85, 0, 0, 0, 1),  // call map_lookup_elem
        insn(0x15, 0, 0, 3, 0),  // if r0 == 0 goto fail
        insn(0x61, 0, 0, 0, 0),  // r0 = *(u32 *)r0
        insn(0x07, 0, 0, 0, 1),  // r0 += 1
        insn(0x95, 0, 0, 0, 0),  // exit
        insn(0xb7, 0, 0, 0, 0),  // fail: r0 = 0
        insn(0x95, 0, 0, 0, 0),
    ]);
    p
}

fn put32(a: &mut [u8; ATTR], at: usize, v: u32) {
    a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(a: &mut [u8; ATTR], at: usize, v: u64) {
    a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get32(a: &[u8; ATTR], at: usize) -> u32 {
    u32::from_ne_bytes(a[at..at + 4].try_into().unwrap())
}

fn bpf(cmd: i64, attr: &mut [u8; ATTR]) -> io::Result<i64> {
    // SAFETY: `attr` is ATTR writable bytes, a zero-padded `union bpf_attr`
    // for `cmd`; every pointer the callers put in it points to a live buffer
    // of the length they give, which outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), ATTR) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd(r: i64) -> OwnedFd {
    // SAFETY: `r` is a descriptor a bpf call just created for us; nothing
    // else owns it.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

/// Load a socket filter; the verifier's log is in the error.
pub fn load(prog: &[Insn]) -> io::Result<OwnedFd> {
    let mut log = vec![0u8; 1 << 16];
    let license = b"GPL\0";
    let mut a = [0u8; ATTR];
    put32(&mut a, 0, BPF_PROG_TYPE_SOCKET_FILTER);
    put32(&mut a, 4, prog.len() as u32);
    put64(&mut a, 8, prog.as_ptr() as u64);
    put64(&mut a, 16, license.as_ptr() as u64);
    put32(&mut a, 24, 1);
    put32(&mut a, 28, log.len() as u32);
    put64(&mut a, 32, log.as_mut_ptr() as u64);
    bpf(BPF_PROG_LOAD, &mut a).map(fd).map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(0);
        io::Error::new(
            e.kind(),
            format!("{e}: {}", String::from_utf8_lossy(&log[..end])),
        )
    })
}

/// A hash map u32 port -> u32 filter id.
pub fn port_map(ports: &[u16]) -> io::Result<OwnedFd> {
    let mut a = [0u8; ATTR];
    put32(&mut a, 0, BPF_MAP_TYPE_HASH);
    put32(&mut a, 4, 4);
    put32(&mut a, 8, 4);
    put32(&mut a, 12, ports.len().max(1) as u32);
    let map = fd(bpf(BPF_MAP_CREATE, &mut a)?);
    for (id, &port) in ports.iter().enumerate() {
        let (key, value) = (port as u32, id as u32);
        let mut a = [0u8; ATTR];
        put32(&mut a, 0, map.as_raw_fd() as u32);
        put64(&mut a, 8, &key as *const u32 as u64);
        put64(&mut a, 16, &value as *const u32 as u64);
        bpf(BPF_MAP_UPDATE_ELEM, &mut a)?;
    }
    Ok(map)
}

/// Run `prog` on `pkt` `repeat` times in the kernel: (return value, ns per run).
pub fn test_run(prog: &OwnedFd, pkt: &[u8], repeat: u32) -> io::Result<(u32, u32)> {
    let mut out = vec![0u8; 4096];
    let mut a = [0u8; ATTR];
    put32(&mut a, 0, prog.as_raw_fd() as u32);
    put32(&mut a, 8, pkt.len() as u32);
    put32(&mut a, 12, out.len() as u32);
    put64(&mut a, 16, pkt.as_ptr() as u64);
    put64(&mut a, 24, out.as_mut_ptr() as u64);
    put32(&mut a, 32, repeat);
    bpf(BPF_PROG_TEST_RUN, &mut a)?;
    Ok((get32(&a, 4), get32(&a, 36)))
}
