//! A hostile sender of asynchronous messages: it floods a process whose
//! exception stack cannot take an upcall just now. Any environment may send
//! one; before, the kernel ended the receiver when the message could not be
//! delivered ("no usable exception stack"), so a message was a way to kill
//! any process caught at such a moment. Now the message is lost, not the
//! receiver, and one that can take it still gets it.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use libos::fork::fork;
use libos::layout::SLOT_SELF;
use libos::{info, ipc, println, spawn, sys};

libos::entry!(main);

const MESSAGES: u32 = 200;
/// An exception stack nowhere mapped.
const NOWHERE: u64 = 0x5_0000_0000;
/// Rounds of the receiver's busy loop while its stack is unusable.
const SPIN: u64 = 40_000_000;

static TOUCH: AtomicU64 = AtomicU64::new(0);

/// The receiver: makes its exception stack unusable for a while (as a
/// process that is still setting it up, or has run it full), touching no
/// new memory meanwhile, then puts it back.
fn receiver() -> u8 {
    let me = sys::env_id();
    let Some(saved) = info::env(me).map(|e| e.entries) else {
        return 2;
    };
    TOUCH.store(1, Ordering::Relaxed);
    let mut broken = saved;
    broken.xstack_top = NOWHERE;
    broken.slice_start = 0;
    broken.slice_end = 0;
    if sys::env_set_entries(me, SLOT_SELF, &broken).is_err() {
        return 3;
    }
    let mut x = 0u64;
    for i in 0..SPIN {
        x = core::hint::black_box(x.wrapping_add(i));
    }
    if sys::env_set_entries(me, SLOT_SELF, &saved).is_err() {
        return 4;
    }
    (x == 1) as u8
}

fn main() -> u8 {
    let env = match fork() {
        Ok(0) => sys::exit(receiver()),
        Ok(env) => env,
        Err(e) => {
            println!("pct_flood: fork refused: {}", e.name());
            return 2;
        }
    };
    while info::env(env).is_some_and(|e| e.entries.xstack_top != NOWHERE) {
        let _ = sys::yield_to(None);
    }
    let mut sent = 0;
    for _ in 0..MESSAGES {
        if ipc::send(env, &[0; 9]).is_ok() {
            sent += 1;
        }
        let _ = sys::yield_to(Some(env));
    }
    spawn::wait(env);
    let status = info::exit_status(env);
    println!(
        "pct_flood: sent {sent} messages to a process that could not take them; it exited with {status:?}"
    );
    (status != Some(0)) as u8
}
