//! Raw disk I/O through the kernel's virtio-blk driver: writes a pattern,
//! reads it back, leaves a signature at sector 100 for the host to check,
//! and shows that bad requests and environments without the disk's
//! capability are refused.
#![no_std]
#![no_main]

use exo_abi::syscall::Error;
use libos::{println, spawn, sys};

libos::entry!(main);

const SIGNATURE: &[u8] = b"EXO-BLK-TEST sector 100";

extern "C" fn intruder() -> u8 {
    let mut buf = [0u8; 512];
    let r = sys::blk_read(0, &mut buf, 0);
    println!(
        "blk_test: environment without the disk capability: read {}",
        if r == Err(Error::Denied) {
            "refused"
        } else {
            "ALLOWED"
        }
    );
    (r != Err(Error::Denied)) as u8
}

fn main() -> u8 {
    let sectors = match sys::blk_info() {
        Ok(s) => s,
        Err(e) => {
            println!("blk_test: no disk ({e:?})");
            return 2;
        }
    };
    println!("blk_test: disk of {sectors} sectors");
    let mut out = [0u8; 4096];
    for (i, b) in out.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    if let Err(e) = sys::blk_write(8, &out, 0) {
        println!("blk_test: write refused by the device ({e:?}): read-only disk");
        return 3;
    }
    let mut back = [0u8; 4096];
    sys::blk_read(8, &mut back, 0).unwrap();
    let same = out == back;
    println!(
        "blk_test: 4 KiB written at sector 8 and read back: {}",
        if same { "identical" } else { "DIFFERENT" }
    );
    let mut sig = [0u8; 512];
    sig[..SIGNATURE.len()].copy_from_slice(SIGNATURE);
    sys::blk_write(100, &sig, 0).unwrap();
    sys::blk_flush(0).unwrap();
    let mut ok = same;
    for (what, r, want) in [
        (
            "read past the end",
            sys::blk_read(sectors, &mut back[..512], 0),
            Error::Invalid,
        ),
        (
            "read of a partial sector",
            sys::blk_read(0, &mut back[..100], 0),
            Error::Invalid,
        ),
        (
            "read into kernel memory",
            // SAFETY: a deliberately bad pointer; the kernel must refuse it.
            unsafe {
                sys::syscall5(
                    exo_abi::syscall::Sysnum::BlkRead as u64,
                    0,
                    exo_abi::layout::KERNEL_BASE,
                    512,
                    0,
                    0,
                )
            }
            .0
            .try_into()
            .map_or(Err(Error::Fault), |_: u64| Ok(())),
            Error::Fault,
        ),
    ] {
        let good = r == Err(want);
        ok &= good;
        println!(
            "blk_test: {what}: {}",
            if good { "refused" } else { "WRONG" }
        );
    }
    sys::cap_derive(0, 3, b"x", exo_abi::cap::PERM_ALL).unwrap();
    let c = spawn::spawn(intruder, b"i", 3, Some(3)).unwrap();
    spawn::wait(c.id);
    println!("blk_test: {}", if ok { "done" } else { "FAILED" });
    (!ok) as u8
}
