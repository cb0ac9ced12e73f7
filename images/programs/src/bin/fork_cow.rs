//! fork with copy-on-write: parent and child see the same memory at fork,
//! then each one's writes (globals, heap, stack) stay its own; pages not
//! written stay shared. The child reports through its exit status.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libos::fork::{fork, PTE_COW};
use libos::{info, println, process};

libos::entry!(main);

static mut GLOBAL: u64 = 1;

fn main() -> u8 {
    let heap: Vec<u64> = (0..2000).collect();
    let mut on_stack = [7u64; 64];
    // SAFETY: one thread of control per process.
    unsafe { GLOBAL = 10 };
    let pid = fork().expect("fork");
    if pid == 0 {
        // Child: sees the parent's values as of fork...
        // SAFETY: as above.
        let g = unsafe { GLOBAL };
        let ok = g == 10 && heap[1999] == 1999 && on_stack[63] == 7;
        // ...and its writes stay private.
        // SAFETY: as above.
        unsafe { GLOBAL = 20 };
        on_stack[0] = 99;
        core::hint::black_box(&on_stack);
        let cow_resolved = info::pte(core::ptr::addr_of!(GLOBAL) as u64 & !0xfff) & PTE_COW == 0;
        println!(
            "fork_cow: child sees parent's memory: {}, write made private: {}",
            ok, cow_resolved
        );
        return if ok && cow_resolved { 0 } else { 1 };
    }
    // Parent: writes after fork do not reach the child, and vice versa.
    let mut heap = heap;
    heap[0] = 12345;
    let status = process::wait(pid);
    // SAFETY: as above.
    let g = unsafe { GLOBAL };
    println!("fork_cow: parent's global still {g} after the child wrote 20; child status {status}");
    let ok = g == 10 && status == 0 && on_stack[0] == 7 && heap[0] == 12345;
    println!("fork_cow: {}", if ok { "isolation holds" } else { "WRONG" });
    (!ok) as u8
}
