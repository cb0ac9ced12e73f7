//! Visible revocation and the abort protocol: the first environment asks two
//! children for pages back by a deadline. One gives them back in its
//! revocation upcall; the other ignores the request, so the kernel takes the
//! pages by force and records them where the child reads them.
#![no_std]
#![no_main]

use exo_abi::env::EnvInfo;
use exo_abi::wakeup::{WkTerm, CMP_GE, CMP_NE, TERM_MEM, TERM_TICKS};
use libos::upcall::{self, Handlers};
use libos::{info, println, spawn, sys, vm};

libos::entry!(main);

/// Pages each child holds beyond its image, at this address.
const POOL_VA: u64 = 0x2000_0000;
const POOL: u64 = 4;

fn fill_pool() {
    for i in 0..POOL {
        vm::map_fresh(POOL_VA + i * 4096, true).unwrap();
        // SAFETY: just mapped writable.
        unsafe { ((POOL_VA + i * 4096) as *mut u64).write_volatile(i) };
    }
}

fn give_back(npages: u32, _deadline: u64) {
    for i in 0..npages as u64 {
        let va = POOL_VA + i * 4096;
        if let Some(ppn) = vm::ppn_of(va) {
            let _ = vm::unmap(va);
            let _ = sys::p_free(ppn, 0);
        }
    }
    println!("revoke: cooperative child gave back {npages} page(s) in its upcall");
}

fn ignore(_npages: u32, _deadline: u64) {}

/// Sleeps until the kernel records pages taken from us.
fn wait_taken() -> EnvInfo {
    let me = sys::env_id();
    let addr = info::env_addr(me)
        + core::mem::offset_of!(EnvInfo, revocation) as u64
        + core::mem::offset_of!(exo_abi::env::Revocation, taken_count) as u64;
    let term = WkTerm {
        kind: TERM_MEM,
        width: 4,
        cmp: CMP_NE,
        addr,
        mask: u64::MAX,
        value: 0,
        ..WkTerm::default()
    };
    loop {
        let e = info::env(me).unwrap();
        if e.revocation.taken_count > 0 {
            return e;
        }
        let _ = sys::wakeup(&[term]);
    }
}

extern "C" fn cooperative() -> u8 {
    fill_pool();
    upcall::register(Handlers {
        revoke: Some(give_back),
        ..Handlers::default()
    })
    .unwrap();
    loop {
        let _ = sys::yield_to(None);
    }
}

extern "C" fn stubborn() -> u8 {
    fill_pool();
    upcall::register(Handlers {
        revoke: Some(ignore),
        ..Handlers::default()
    })
    .unwrap();
    let e = wait_taken();
    let r = e.revocation;
    let mut unmapped = 0;
    for &ppn in &r.taken[..r.taken_count as usize] {
        let still = (0..POOL).any(|i| vm::ppn_of(POOL_VA + i * 4096) == Some(ppn));
        if !still {
            unmapped += 1;
        }
    }
    println!(
        "revoke: stubborn child reads its record: {} page(s) taken, {unmapped} no longer mapped",
        r.taken_count
    );
    (unmapped != r.taken_count) as u8
}

fn main() -> u8 {
    let coop = spawn::spawn(cooperative, b"co", 1, Some(1)).unwrap();
    let stub = spawn::spawn(stubborn, b"st", 2, Some(2)).unwrap();
    // Let both set up their pools.
    let t = sys::ticks() + 5;
    sys::wakeup(&[WkTerm {
        kind: TERM_TICKS,
        cmp: CMP_GE,
        value: t,
        ..WkTerm::default()
    }])
    .unwrap();
    sys::revoke(coop.id, coop.slot, 2, 5).unwrap();
    sys::revoke(stub.id, stub.slot, 2, 5).unwrap();
    spawn::wait(stub.id);
    let c = info::env(coop.id).unwrap().revocation;
    println!(
        "revoke: cooperative child returned {} page(s), {} taken: {}",
        c.returned,
        c.taken_count,
        if c.returned == 2 && c.taken_count == 0 {
            "ok"
        } else {
            "WRONG"
        }
    );
    sys::env_destroy(coop.id, coop.slot).unwrap();
    0
}
