//! Hands the kernel thousands of random system calls from a child
//! environment, every number of the table and one past it: random
//! arguments mixing small integers, the child's own addresses, kernel
//! addresses and huge values (tamed only where they would end, block or
//! starve the fuzzer itself, or write to the console; exit comes last). The kernel must
//! refuse or perform each one and keep running; the first environment then
//! checks it is still scheduled and its own memory untouched.
#![no_std]
#![no_main]

use exo_abi::layout::{KERNEL_BASE, USER_STACK_TOP, USER_TOP};
use exo_abi::syscall::Sysnum;
use exo_abi::wakeup::{WkTerm, CMP_EQ};
use libos::{println, spawn, sys};

libos::entry!(main);

const CALLS: u64 = 20_000;
/// Calls that could end, block or starve the fuzzer itself, or flood the
/// console, with random arguments: they get random arguments within what
/// keeps the fuzzer running (see `tame`), and `exit` is the last call.
const TAMED: [Sysnum; 6] = [
    Sysnum::Exit,
    Sysnum::Wakeup,
    Sysnum::ConsoleWrite,
    Sysnum::ConsoleRead,
    Sysnum::Yield,
    Sysnum::Donate,
];

/// A word a wakeup predicate finds equal to 7 from the start.
static SEEN: u64 = 7;

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
    let holds = [WkTerm::mem(&SEEN as *const u64 as u64, 8, CMP_EQ, 7)];
    while done < CALLS {
        // Every call of the table, and now and then a number past its end.
        let n = rng.next() % (Sysnum::ALL.len() as u64 + 1);
        if n == Sysnum::Exit as u64 {
            continue;
        }
        let mut a = [rng.arg(), rng.arg(), rng.arg(), rng.arg(), rng.arg()];
        if let Some(s) = Sysnum::from_u64(n).filter(|s| TAMED.contains(s)) {
            tame(s, &mut a, &mut rng, holds.as_ptr() as u64);
        }
        // SAFETY: the point is to hand the kernel arbitrary arguments; any
        // harm may only fall on this environment.
        let (r, _) = unsafe { sys::syscall5(n, a[0], a[1], a[2], a[3], a[4]) };
        if r < 0 {
            refused += 1;
        }
        if let Some(seen) = reached.get_mut(n as usize) {
            *seen = true;
        }
        done += 1;
    }
    println!("syscall_fuzz: child made {done} random calls, {refused} refused");
    reached[Sysnum::Exit as usize] = true; // the last one, below
    let missed = Sysnum::ALL.iter().filter(|s| !reached[**s as usize]);
    match missed.clone().count() {
        0 => println!("syscall_fuzz: reached every call of the table"),
        n => {
            for s in missed {
                println!("syscall_fuzz: never reached {}", s.name());
            }
            println!("syscall_fuzz: {n} calls never reached");
        }
    }
    // SAFETY: ends this environment with status 0 (the rest is ignored).
    unsafe {
        sys::syscall5(
            Sysnum::Exit as u64,
            0,
            rng.arg(),
            rng.arg(),
            rng.arg(),
            rng.arg(),
        )
    };
    1
}

/// Random arguments within what keeps the fuzzer running.
fn tame(s: Sysnum, a: &mut [u64; 5], rng: &mut Rng, holds: u64) {
    match s {
        // Nothing, or any length from a kernel address (refused): no noise.
        Sysnum::ConsoleWrite => {
            if rng.next().is_multiple_of(2) {
                a[1] = 0;
            } else {
                a[0] = KERNEL_BASE + a[0] % 0x1000;
            }
        }
        // A predicate the kernel refuses (a kernel address), or one that
        // already holds (a word of ours equal to what it holds).
        Sysnum::Wakeup => {
            if rng.next().is_multiple_of(2) {
                a[0] = KERNEL_BASE + a[0] % 0x1000;
            } else {
                a[0] = holds;
                a[1] = 1;
            }
        }
        // No one, ourselves, or someone who does not exist: giving our
        // slice away for good would leave the fuzzer unscheduled.
        Sysnum::Donate | Sysnum::Yield => {
            a[0] = match rng.next() % 3 {
                0 => 0,
                1 => sys::env_id_call() as u64,
                _ => 0xff_ff00 | (a[0] & 0xff),
            }
        }
        _ => {}
    }
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
