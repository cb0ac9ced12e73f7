//! Hands the kernel thousands of random system calls from a child
//! environment: random numbers and arguments mixing small integers, the
//! child's own addresses, kernel addresses and huge values. The kernel must
//! refuse or perform each one and keep running; the first environment then
//! checks it is still scheduled and its own memory untouched.
#![no_std]
#![no_main]

use exo_abi::layout::{KERNEL_BASE, USER_STACK_TOP, USER_TOP};
use exo_abi::syscall::Sysnum;
use libos::{println, spawn, sys};

libos::entry!(main);

const CALLS: u64 = 20_000;
/// Calls left out: ending or blocking the fuzzer itself, and console noise.
const SKIP: [Sysnum; 6] = [
    Sysnum::Exit,
    Sysnum::Wakeup,
    Sysnum::ConsoleWrite,
    Sysnum::ConsoleRead,
    Sysnum::Yield,
    Sysnum::Donate,
];

static mut CANARY: u64 = 0x00ca_7a11_0000_0001;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn arg(&mut self) -> u64 {
        let r = self.next();
        match r % 8 {
            0 => r % 16,
            1 => r % 0x10_0000,
            2 => USER_STACK_TOP - 8 - (r % 0x4000),
            3 => 0x40_0000 + (r % 0x1_0000),
            4 => KERNEL_BASE + (r % 0x1000_0000),
            5 => USER_TOP + (r % 0x4000_0000),
            6 => u64::MAX - (r % 4096),
            _ => r,
        }
    }
}

extern "C" fn fuzzer() -> u8 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ sys::ticks());
    let mut refused = 0u64;
    let mut done = 0u64;
    let mut reached = [false; Sysnum::ALL.len()];
    while done < CALLS {
        // Every call of the table, and now and then a number past its end.
        let n = rng.next() % (Sysnum::ALL.len() as u64 + 1);
        if Sysnum::from_u64(n).is_some_and(|s| SKIP.contains(&s)) {
            continue;
        }
        // SAFETY: the point is to hand the kernel arbitrary arguments; any
        // harm may only fall on this environment.
        let (r, _) =
            unsafe { sys::syscall5(n, rng.arg(), rng.arg(), rng.arg(), rng.arg(), rng.arg()) };
        if r < 0 {
            refused += 1;
        }
        if let Some(seen) = reached.get_mut(n as usize) {
            *seen = true;
        }
        done += 1;
    }
    println!("syscall_fuzz: child made {done} random calls, {refused} refused");
    let missed = Sysnum::ALL
        .iter()
        .filter(|s| !SKIP.contains(s) && !reached[**s as usize]);
    match missed.clone().count() {
        0 => println!("syscall_fuzz: reached every call of the table"),
        n => {
            for s in missed {
                println!("syscall_fuzz: never reached {}", s.name());
            }
            println!("syscall_fuzz: {n} calls never reached");
        }
    }
    0
}

fn main() -> u8 {
    let child = spawn::spawn(fuzzer, b"z", 4, Some(4)).unwrap();
    spawn::wait(child.id);
    let status = libos::info::exit_status(child.id);
    // SAFETY: one thread of control.
    let canary = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(CANARY)) };
    println!(
        "syscall_fuzz: kernel survived; fuzzer ended with {status:?}; parent memory {}",
        if canary == 0x00ca_7a11_0000_0001 {
            "intact"
        } else {
            "CORRUPTED"
        }
    );
    (canary != 0x00ca_7a11_0000_0001) as u8
}
