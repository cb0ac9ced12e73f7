//! System-call reflection: code that is not the program's own (here a page
//! holding `syscall; ret`, as a foreign binary's code would) makes system
//! calls with its own numbers; the kernel hands each to this environment's
//! handler, which answers it. Calls from the program itself stay exo's.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::trap::UTrapFrame;
use libos::upcall::{self, Handlers};
use libos::{println, sys, vm};

libos::entry!(main);

/// Where the foreign code lives.
const FOREIGN: u64 = 0x5e00_0000_0000;
const ENOSYS: i64 = -38;
const GETPID: u64 = 39;

static REFLECTED: AtomicU64 = AtomicU64::new(0);

/// The foreign calls this program answers: getpid, and nothing else.
fn handle(f: &mut UTrapFrame) {
    REFLECTED.fetch_add(1, Ordering::Relaxed);
    f.rax = match f.rax {
        GETPID => 4242,
        _ => ENOSYS as u64,
    };
}

/// Calls the foreign code with `rax = nr`; returns its `rax`.
fn foreign_call(nr: u64) -> u64 {
    let r: u64;
    // SAFETY: FOREIGN holds `syscall; ret`, mapped executable below; the
    // call clobbers what `syscall` does (rcx, r11) and returns in rax.
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = in(reg) FOREIGN,
            inlateout("rax") nr => r,
            lateout("rcx") _, lateout("r11") _,
        )
    };
    r
}

fn main() -> u8 {
    if let Err(e) = vm::map_code(FOREIGN, &[0x0f, 0x05, 0xc3]) {
        println!("reflect_check: cannot map the foreign code: {}", e.name());
        return 2;
    }
    let mut h = upcall::current();
    h.syscall = Some(handle);
    h.syscall_range = (FOREIGN, FOREIGN + 4096);
    if upcall::register(Handlers { ..h }).is_err() {
        return 3;
    }
    let pid = foreign_call(GETPID);
    let unknown = foreign_call(9999) as i64;
    let native = sys::env_id();
    let n = REFLECTED.load(Ordering::Relaxed);
    let ok = pid == 4242 && unknown == ENOSYS && native != 0 && n == 2;
    println!(
        "reflect_check: foreign getpid -> {pid}, foreign call 9999 -> {unknown}, {n} reflected; our own env_id -> {native:#x}, not reflected: {ok}"
    );
    !ok as u8
}
