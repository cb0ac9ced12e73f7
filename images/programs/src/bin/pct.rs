//! Protected control transfer and wakeup predicates end to end: a server
//! environment answers synchronous calls (the message travels in registers
//! and comes back transformed) and asynchronous messages (it answers with an
//! asynchronous message that wakes the client sleeping on a predicate).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::wakeup::{WkTerm, CMP_NE, TERM_MEM};
use libos::upcall::{self, Handlers, Message};
use libos::{ipc, println, spawn, sys};

libos::entry!(main);

static GOT_ASYNC: AtomicU64 = AtomicU64::new(0);

fn serve_sync(_caller: u32, m: &mut Message) {
    for r in m.iter_mut() {
        *r += 100;
    }
}

fn serve_async(caller: u32, m: &Message) {
    // Answer with an asynchronous message of our own.
    let _ = ipc::send(caller, &[m[0] * 2, 0, 0, 0, 0, 0, 0, 0, 0]);
}

fn client_async(_from: u32, m: &Message) {
    GOT_ASYNC.store(m[0], Ordering::Relaxed);
}

extern "C" fn server() -> u8 {
    loop {
        // Nothing to do between calls: sleep until a message arrives.
        let never = WkTerm {
            kind: TERM_MEM,
            width: 8,
            cmp: CMP_NE,
            addr: &GOT_ASYNC as *const _ as u64,
            mask: 0,
            value: 0,
            ..WkTerm::default()
        };
        let _ = sys::wakeup(&[never]);
    }
}

fn main() -> u8 {
    upcall::register(Handlers {
        pct_sync: Some(serve_sync),
        pct_async: Some(serve_async),
        ..Handlers::default()
    })
    .unwrap();
    let srv = spawn::spawn(server, b"srv", 1, Some(1)).unwrap();
    upcall::register(Handlers {
        pct_async: Some(client_async),
        ..Handlers::default()
    })
    .unwrap();

    let msg: Message = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    let reply = ipc::call(srv.id, &msg).unwrap();
    let ok = reply == [101, 102, 103, 104, 105, 106, 107, 108, 109];
    println!(
        "pct: synchronous call, all 9 message registers came back +100: {}",
        if ok { "ok" } else { "WRONG" }
    );
    if !ok {
        println!("pct: reply {reply:?}");
        return 1;
    }
    let t0 = sys::ticks();
    ipc::send(srv.id, &[21, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    // Sleep until the server's answer lands in GOT_ASYNC (a wakeup predicate
    // over our own memory, evaluated by the kernel's scheduler).
    let term = WkTerm {
        kind: TERM_MEM,
        width: 8,
        cmp: CMP_NE,
        addr: &GOT_ASYNC as *const _ as u64,
        mask: u64::MAX,
        value: 0,
        ..WkTerm::default()
    };
    while GOT_ASYNC.load(Ordering::Relaxed) == 0 {
        sys::wakeup(&[term]).unwrap();
    }
    let got = GOT_ASYNC.load(Ordering::Relaxed);
    println!(
        "pct: asynchronous message answered with {got} (woken by predicate after {} ticks): {}",
        sys::ticks() - t0,
        if got == 42 { "ok" } else { "WRONG" }
    );
    // A timed sleep: a predicate on the clock.
    let until = sys::ticks() + 3;
    let clock = WkTerm {
        kind: exo_abi::wakeup::TERM_TICKS,
        cmp: exo_abi::wakeup::CMP_GE,
        value: until,
        ..WkTerm::default()
    };
    sys::wakeup(&[clock]).unwrap();
    println!(
        "pct: slept on the clock until tick {until}: {}",
        if sys::ticks() >= until { "ok" } else { "WRONG" }
    );
    sys::env_destroy(srv.id, srv.slot).unwrap();
    (got != 42) as u8
}
