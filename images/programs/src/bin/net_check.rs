//! The raw network calls refuse what they must: environments without the
//! device's capability, runts and oversize frames, kernel pointers, and a
//! receive buffer too small for the frame (which then stays queued). Needs
//! some traffic to arrive (the host test pings us).
#![no_std]
#![no_main]

use exo_abi::layout::KERNEL_BASE;
use exo_abi::syscall::{Error, Sysnum};
use libos::{println, spawn, sys};

libos::entry!(main);

extern "C" fn intruder() -> u8 {
    let mut buf = [0u8; 1514];
    let recv = sys::net_recv(&mut buf, 0);
    let send = sys::net_send(&[0u8; 60], 0);
    let gather = sys::net_send_gather(&[0u8; 14], &[0u8; 46], 0);
    let refused =
        recv == Err(Error::Denied) && send == Err(Error::Denied) && gather == Err(Error::Denied);
    println!(
        "net_check: environment without the device capability: {}",
        if refused { "refused" } else { "ALLOWED" }
    );
    (!refused) as u8
}

fn raw(n: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    // SAFETY: deliberately hostile arguments; the kernel must refuse them.
    let (r, _) = unsafe { sys::syscall5(n, ptr, len, 0, 0, 0) };
    match Error::from_result(r) {
        Some(e) if r < 0 => Err(e),
        _ => Ok(r as u64),
    }
}

fn main() -> u8 {
    if sys::net_mac().is_err() {
        println!("net_check: no network device");
        return 2;
    }
    let mut ok = true;
    let mut check = |what: &str, good: bool| {
        ok &= good;
        println!("net_check: {what}: {}", if good { "ok" } else { "WRONG" });
    };
    check(
        "runt frame refused",
        sys::net_send(&[0u8; 10], 0) == Err(Error::Invalid),
    );
    check(
        "oversize frame refused",
        sys::net_send(&[0u8; 2000], 0) == Err(Error::Invalid),
    );
    check(
        "send from kernel memory refused",
        raw(Sysnum::NetSend as u64, KERNEL_BASE, 60) == Err(Error::Fault),
    );
    // The zero-copy send: the payload must be readable by us, sizes bounded.
    let head = [0u8; 14];
    let gather = |data: u64, dlen: u64| {
        // SAFETY: deliberately hostile arguments; the kernel must refuse them.
        let (r, _) = unsafe {
            sys::syscall5(
                Sysnum::NetSendGather as u64,
                head.as_ptr() as u64,
                head.len() as u64,
                data,
                dlen,
                0,
            )
        };
        Error::from_result(r).filter(|_| r < 0)
    };
    check(
        "gather from kernel memory refused",
        gather(KERNEL_BASE, 100) == Some(Error::Fault),
    );
    // Lengths whose sum wraps around: refused, not a kernel panic.
    check(
        "gather with a wrapping length refused",
        gather(head.as_ptr() as u64, u64::MAX - 10) == Some(Error::Invalid),
    );
    check(
        "gather with a runt head refused",
        sys::net_send_gather(&head[..10], &[0u8; 50], 0) == Err(Error::Invalid),
    );
    check(
        "gather beyond the largest frame refused",
        sys::net_send_gather(&head, &[0u8; 1600], 0) == Err(Error::Invalid),
    );
    check(
        "gather of a good frame sent",
        sys::net_send_gather(&head, &[0u8; 46], 0).is_ok(),
    );
    // Wait for a frame (the host's ARP or ping), then misuse the receive.
    let mut small = [0u8; 8];
    let mut waited = 0u64;
    let first = loop {
        match sys::net_recv(&mut small, 0) {
            Err(Error::Invalid) => break true,
            Ok(0) => {
                waited += 1;
                if waited > 50_000_000 {
                    break false;
                }
                let _ = sys::yield_to(None);
            }
            _ => break false,
        }
    };
    check("a buffer smaller than the frame is refused", first);
    check(
        "receive into kernel memory refused",
        raw(Sysnum::NetRecv as u64, KERNEL_BASE, 1514) == Err(Error::Fault),
    );
    let mut frame = [0u8; 1514];
    let n = sys::net_recv(&mut frame, 0).unwrap_or(0);
    check("the refused frame stayed queued and arrives whole", n >= 42);
    sys::cap_derive(0, 3, b"x", exo_abi::cap::PERM_ALL).unwrap();
    let c = spawn::spawn(intruder, b"i", 3, Some(3)).unwrap();
    spawn::wait(c.id);
    println!("net_check: {}", if ok { "done" } else { "FAILED" });
    (!ok) as u8
}
