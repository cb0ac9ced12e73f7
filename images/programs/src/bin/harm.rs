//! A misbehaving program cannot harm its siblings: one child counts to a
//! target while its sibling attacks it (destroy it, take its pages, steal
//! its time slice, change its registers, signal it, map its pages, its
//! pipe and its process entry writable), is refused every time
//! (the signal is dropped by the target's libOS: wrong sender), and then
//! hogs the CPU; the well-behaved child still finishes, and the parent
//! ends the hog.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::syscall::Error;
use libos::fork::fork;
use libos::layout::{SLOT_SHARED, SLOT_TABLE};
use libos::{info, println, process, signal, sys, time, vm};

extern crate alloc;
use alloc::vec::Vec;

/// Where the attacker tries to map its sibling's pages.
const PROBE: u64 = 0x7100_0000;

libos::entry!(main);

static COUNT: AtomicU64 = AtomicU64::new(0);

fn main() -> u8 {
    let good = fork().unwrap();
    if good == 0 {
        // A pipe of its own, for the sibling to try.
        let _pipe = libos::posix::pipe();
        // Busy long enough for every attack to arrive while it runs.
        time::sleep_ticks(10);
        while COUNT.fetch_add(1, Ordering::Relaxed) < 3_000_000 {
            core::hint::spin_loop();
        }
        println!("harm: well-behaved sibling finished its work");
        return 0;
    }
    let bad = fork().unwrap();
    if bad == 0 {
        let victim_page = (0..info::sysinfo().npages)
            .find(|&p| info::page(p).is_some_and(|r| r.owner == good))
            .unwrap_or(0);
        let mut refused = 0;
        let mut check = |what: &str, r: Result<(), Error>| {
            if r.is_err() {
                refused += 1;
            } else {
                println!("harm: {what} WAS ALLOWED");
            }
        };
        check("destroy the sibling", sys::env_destroy(good, 0));
        check(
            "map the sibling's page",
            vm::apply(&[vm::map_op(PROBE, victim_page, true, false, 0)]).map_err(|e| e.1),
        );
        check("free the sibling's page", sys::p_free(victim_page, 0));
        check(
            "take the sibling's slices",
            info::sysinfo()
                .slices
                .iter()
                .position(|&o| o == good)
                .map_or(Ok(()), |p| sys::slice_free(p, 0)),
        );
        check(
            "set the sibling's registers",
            sys::env_set_context(good, 0, &Default::default()),
        );
        check("kill the sibling", signal::kill(good, signal::SIGKILL));
        // Delivered, but the sibling's libOS drops it: the kernel names us
        // as the sender, and we are not its parent. It must still exit 0.
        let sent = signal::kill(good, signal::SIGTERM).is_ok();
        println!("harm: misbehaving sibling sent SIGTERM to the well-behaved one: {sent}");
        // Every page the sibling owns (its memory, its pipe, its process
        // entry): none may be mapped writable, and only the entry (shared
        // with all for reading) read-only.
        let theirs: Vec<u64> = (0..info::sysinfo().npages)
            .filter(|&p| info::page(p).is_some_and(|r| r.owner == good))
            .collect();
        let try_map = |ppn: u64, writable: bool| {
            let ok = vm::apply(&[vm::map_op(PROBE, ppn, writable, false, 0)]).is_ok()
                || vm::apply(&[vm::map_op(PROBE, ppn, writable, false, SLOT_SHARED)]).is_ok()
                || vm::apply(&[vm::map_op(PROBE, ppn, writable, false, SLOT_TABLE)]).is_ok();
            if ok {
                let _ = vm::unmap(PROBE);
            }
            ok
        };
        let writable = theirs.iter().filter(|&&p| try_map(p, true)).count();
        let readable = theirs.iter().filter(|&&p| try_map(p, false)).count();
        println!(
            "harm: of the sibling's {} pages (its pipe and process entry among them), {writable} could be mapped writable, {readable} read-only",
            theirs.len()
        );
        check(
            "write the sibling's pages",
            if writable == 0 {
                Err(Error::Denied)
            } else {
                Ok(())
            },
        );
        let entry = libos::process::entry(good);
        println!(
            "harm: the sibling's process entry reads pid {:#x}",
            entry.map_or(0, |e| e.pid.load(core::sync::atomic::Ordering::Relaxed))
        );
        println!("harm: misbehaving sibling refused {refused} of 7 attacks; now hogging the CPU");
        loop {
            core::hint::spin_loop();
        }
    }
    let status = process::wait(good);
    println!("harm: well-behaved sibling exited with {status}");
    time::sleep_ticks(1);
    signal::kill(bad, signal::SIGKILL).unwrap();
    let hog = process::wait(bad);
    println!("harm: parent ended the hog (status {hog})");
    (status != 0) as u8
}
