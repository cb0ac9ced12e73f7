//! Hands the kernel bad system-call arguments and checks each is refused
//! with the right error, without harm to the kernel.
#![no_std]
#![no_main]

use exo_abi::boot::KERNEL_BASE;
use exo_abi::syscall::{Error, Sysnum};
use libos::{println, sys};

libos::entry!(main);

fn check(what: &str, got: i64, want: Error) -> bool {
    let ok = Error::from_result(got) == Some(want);
    println!(
        "syscall_check: {what}: {} (got {got})",
        if ok { "refused" } else { "WRONG" }
    );
    ok
}

fn main() -> u8 {
    let mut ok = true;
    // SAFETY: the calls below pass deliberately bad pointers; the kernel must refuse them.
    unsafe {
        ok &= check(
            "write from null",
            sys::syscall3(Sysnum::ConsoleWrite as u64, 0, 16, 0),
            Error::Fault,
        );
        ok &= check(
            "write from kernel memory",
            sys::syscall3(Sysnum::ConsoleWrite as u64, KERNEL_BASE + 0x100000, 16, 0),
            Error::Fault,
        );
        ok &= check(
            "write wrapping around",
            sys::syscall3(Sysnum::ConsoleWrite as u64, u64::MAX - 4, 16, 0),
            Error::Fault,
        );
        ok &= check(
            "read into kernel memory",
            sys::syscall3(Sysnum::ConsoleRead as u64, KERNEL_BASE + 0x100000, 16, 0),
            Error::Fault,
        );
        let text = "hello";
        ok &= check(
            "read into read-only text",
            sys::syscall3(Sysnum::ConsoleRead as u64, text.as_ptr() as u64, 4, 0),
            Error::Fault,
        );
        ok &= check("unknown call", sys::syscall3(0xdead, 0, 0, 0), Error::NoSys);
    }
    // A program may record the library OS's trace events, not forge the kernel's.
    ok &= check(
        "trace_note of a kernel event",
        sys::trace_note(exo_abi::trace::event::SWITCH, 1, 2).map_or_else(|e| -(e as i64), |()| 0),
        Error::Invalid,
    );
    let big = [b'.'; 5000];
    let n = sys::console_write(&big).unwrap_or(0);
    println!();
    ok &= n == 4096;
    println!("syscall_check: large write wrote {n} bytes in one call (partial writes)");
    if ok {
        println!("syscall_check: all bad calls refused");
        0
    } else {
        1
    }
}
