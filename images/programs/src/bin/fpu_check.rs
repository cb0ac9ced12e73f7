//! Two processes use the SSE and x87 registers and the FS base at once:
//! each loads its own values (128 bytes into XMM0-7, its own x87 control
//! word and MXCSR, a thread-local base), hands the CPU back and forth a few
//! hundred times, and checks nothing of its state was lost or mixed with
//! the other's. Unmodified programs keep floats and memcpy data there.
#![no_std]
#![no_main]

use libos::fork::fork;
use libos::{info, println, spawn, sys};

libos::entry!(main);

const ROUNDS: u32 = 300;

/// An FXSAVE image: 512 bytes, 16-byte aligned.
#[repr(C, align(16))]
struct Fx([u8; 512]);

fn fxsave(out: &mut Fx) {
    // SAFETY: fxsave64 [rdi] writes 512 bytes at a 16-byte aligned buffer
    // of that size (encoded: the programs are built without SSE).
    unsafe {
        core::arch::asm!(".byte 0x48, 0x0f, 0xae, 0x07", in("rdi") out.0.as_mut_ptr(), options(nostack))
    };
}

fn fxrstor(from: &Fx) {
    // SAFETY: fxrstor64 [rdi] reads an image fxsave produced, with only the
    // XMM bytes, control words and MXCSR's rounding bits changed (all valid).
    unsafe {
        core::arch::asm!(".byte 0x48, 0x0f, 0xae, 0x0f", in("rdi") from.0.as_ptr(), options(nostack))
    };
}

/// The 8 bytes at FS:0.
fn fs_word() -> u64 {
    let v: u64;
    // SAFETY: reads through FS, whose base this process set to its own
    // static word below.
    unsafe { core::arch::asm!("mov {}, fs:[0]", out(reg) v, options(nostack, readonly)) };
    v
}

static mut TAG: u64 = 0;

/// Loads this process's values, passes the CPU around, and checks them.
fn run(who: u8) -> bool {
    let mut img = Fx([0; 512]);
    fxsave(&mut img);
    // XMM0-7 (bytes 160..288) get a pattern of our own.
    for (i, b) in img.0[160..288].iter_mut().enumerate() {
        *b = who.wrapping_mul(37).wrapping_add(i as u8);
    }
    // x87 control word: precision 24 bits for one, 64 for the other.
    let fcw: u16 = if who == 1 { 0x007f } else { 0x037f };
    img.0[0..2].copy_from_slice(&fcw.to_le_bytes());
    // MXCSR rounding: toward zero for one, to nearest for the other.
    let mxcsr: u32 = if who == 1 { 0x7f80 } else { 0x1f80 };
    img.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    fxrstor(&img);
    let tag = 0x7a90_0000_0000_0000 | who as u64;
    // SAFETY: one thread; TAG is this process's own copy after fork.
    unsafe { core::ptr::addr_of_mut!(TAG).write_volatile(tag) };
    if sys::set_bases(core::ptr::addr_of!(TAG) as u64, 0).is_err() {
        return false;
    }
    for _ in 0..ROUNDS {
        let _ = sys::yield_to(None);
    }
    let mut now = Fx([0; 512]);
    fxsave(&mut now);
    let ok = now.0[160..288] == img.0[160..288]
        && now.0[0..2] == img.0[0..2]
        && now.0[24..28] == img.0[24..28]
        && fs_word() == tag;
    println!(
        "fpu_check: process {who}: SSE registers, x87 control word, MXCSR and FS base kept across {ROUNDS} switches: {ok}"
    );
    ok
}

fn main() -> u8 {
    let child = match fork() {
        Ok(0) => sys::exit(!run(2) as u8),
        Ok(id) => id,
        Err(e) => {
            println!("fpu_check: fork refused: {}", e.name());
            return 2;
        }
    };
    let mine = run(1);
    spawn::wait(child);
    let theirs = info::exit_status(child) == Some(0);
    println!("fpu_check: both kept their own state: {}", mine && theirs);
    !(mine && theirs) as u8
}
