//! Exceptions delivered to user level: the libOS handler fixes the cause and
//! resumes the faulting code straight from the trap frame. Covers a page
//! fault on an unmapped page (mapped on demand), a write to a read-only page
//! (Appel-Li style unprotect, with the dirty bit read from the exposed page
//! tables), int3 and ud2 (skipped), slice start/end upcalls, and a child
//! without a handler whose fault ends only that child.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::trap::UTrapFrame;
use libos::upcall::{self, Handlers, Resume};
use libos::{println, spawn, vm};

libos::entry!(main);

const DEMAND_VA: u64 = 0x3000_0000;
const PROT_VA: u64 = 0x3100_0000;

static FAULTS: AtomicU64 = AtomicU64::new(0);
static SLICE_ENDS: AtomicU64 = AtomicU64::new(0);
static SLICE_STARTS: AtomicU64 = AtomicU64::new(0);

fn on_exception(f: &mut UTrapFrame) -> Resume {
    FAULTS.fetch_add(1, Ordering::Relaxed);
    match f.vector {
        14 if f.cr2 & !0xfff == DEMAND_VA => match vm::map_fresh(DEMAND_VA, true) {
            Ok(_) => Resume::Continue,
            Err(_) => Resume::Fatal,
        },
        14 if f.cr2 & !0xfff == PROT_VA && f.error_code & 2 != 0 => {
            match vm::protect(PROT_VA, true) {
                Ok(()) => Resume::Continue,
                Err(_) => Resume::Fatal,
            }
        }
        3 => Resume::Continue, // int3 already points past itself
        6 => {
            f.rip += 2; // skip ud2
            Resume::Continue
        }
        _ => Resume::Fatal,
    }
}

extern "C" fn no_handler_child() -> u8 {
    println!("upcalls: child without handlers reads address 16");
    // SAFETY: deliberately invalid.
    let v = unsafe { core::ptr::read_volatile(16 as *const u64) };
    println!("upcalls: child read {v} -- WRONG");
    0
}

fn main() -> u8 {
    let mut h = Handlers {
        exception: Some(on_exception),
        ..Handlers::default()
    };
    upcall::register(h).unwrap();

    // SAFETY: unmapped; the handler maps it and the read is retried.
    let v = unsafe { core::ptr::read_volatile(DEMAND_VA as *const u64) };
    println!(
        "upcalls: demand page fault handled, read {v} after {} upcall(s)",
        FAULTS.load(Ordering::Relaxed)
    );

    vm::map_fresh(PROT_VA, false).unwrap();
    let dirty_before = vm::is_dirty(PROT_VA);
    // SAFETY: mapped read-only: the write faults, the handler unprotects, the write is retried.
    unsafe { core::ptr::write_volatile(PROT_VA as *mut u64, 42) };
    // SAFETY: mapped.
    let back = unsafe { core::ptr::read_volatile(PROT_VA as *const u64) };
    println!(
        "upcalls: write to read-only page handled, read back {back}, dirty bit {} -> {}",
        dirty_before,
        vm::is_dirty(PROT_VA)
    );

    let before = FAULTS.load(Ordering::Relaxed);
    // SAFETY: trapping instructions the handler resumes past.
    unsafe { core::arch::asm!("int3", "ud2", "nop") };
    println!(
        "upcalls: int3 and ud2 handled ({} upcalls)",
        FAULTS.load(Ordering::Relaxed) - before
    );

    h.slice_start = Some(|| {
        SLICE_STARTS.fetch_add(1, Ordering::Relaxed);
    });
    h.slice_end = Some(|| {
        SLICE_ENDS.fetch_add(1, Ordering::Relaxed);
    });
    upcall::register(h).unwrap();
    while SLICE_ENDS.load(Ordering::Relaxed) < 3 || SLICE_STARTS.load(Ordering::Relaxed) < 3 {
        core::hint::spin_loop();
    }
    println!("upcalls: slice end and slice start upcalls arrive (>= 3 each)");
    upcall::register(Handlers {
        exception: Some(on_exception),
        ..Handlers::default()
    })
    .unwrap();

    // A child without handlers: its fault ends it, not the kernel or us.
    upcall::register(Handlers::default()).unwrap();
    let child = spawn::spawn(no_handler_child, b"c", 1, Some(1)).unwrap();
    upcall::register(Handlers {
        exception: Some(on_exception),
        ..Handlers::default()
    })
    .unwrap();
    spawn::wait(child.id);
    println!("upcalls: faulting child ended alone; all upcall checks passed");
    0
}
