//! The Appel-Li virtual-memory benchmarks (Appel & Li, ASPLOS 1991), as the
//! exokernel papers measured them, on the library OS: user-level fault
//! handling that resumes without the kernel, page protection through
//! batched calls, and dirty bits read from the exposed page tables.
//! Prints `bench:` lines and one `bench-json:` line, in TSC cycles.
#![no_std]
#![no_main]

use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::trap::UTrapFrame;
use exo_abi::vm::VmOp;
use libos::upcall::{self, Handlers, Resume};
use libos::vm::{self, protect_op, PAGE_SIZE};
use libos::{info, println};

libos::entry!(main);

const BASE: u64 = 0x5100_0000;
const PAGES: u64 = 100;
const ROUNDS: usize = 9;

/// The page the fault handler protects after unprotecting the faulting one (appel1).
static NEXT_TO_PROTECT: AtomicU64 = AtomicU64::new(0);

fn on_fault(f: &mut UTrapFrame) -> Resume {
    if f.vector != 14 {
        return Resume::Fatal;
    }
    let page = f.cr2 & !(PAGE_SIZE - 1);
    let next = NEXT_TO_PROTECT.swap(0, Ordering::Relaxed);
    let r = if next != 0 {
        vm::apply(&[protect_op(page, true, 0), protect_op(next, false, 0)]).map_err(|e| e.1)
    } else {
        vm::protect(page, true)
    };
    if r.is_ok() {
        Resume::Continue
    } else {
        Resume::Fatal
    }
}

fn now() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { _rdtsc() }
}

/// Median over rounds of the cycles per operation of `f(n)` doing `n` operations.
fn median(n: u64, mut f: impl FnMut(u64)) -> u64 {
    let mut r = [0u64; ROUNDS];
    for x in r.iter_mut() {
        let t = now();
        f(n);
        *x = (now() - t) / n;
    }
    r.sort_unstable();
    r[ROUNDS / 2]
}

/// Like `median`, for a job timing two parts itself: `f(n, part)` returns
/// the cycles part 0 or 1 took over `n` operations.
fn median_split(n: u64, mut f: impl FnMut(u64, usize) -> u64) -> (u64, u64) {
    let mut out = [0u64; 2];
    for (part, o) in out.iter_mut().enumerate() {
        let mut r = [0u64; ROUNDS];
        for x in r.iter_mut() {
            *x = f(n, part) / n;
        }
        r.sort_unstable();
        *o = r[ROUNDS / 2];
    }
    (out[0], out[1])
}

fn touch(va: u64) {
    // SAFETY: a mapped page of ours; a fault on it is handled and resumed.
    unsafe { core::ptr::write_volatile(va as *mut u64, 1) };
}

fn batch(writable: bool) -> [VmOp; PAGES as usize] {
    core::array::from_fn(|i| protect_op(BASE + i as u64 * PAGE_SIZE, writable, 0))
}

fn main() -> u8 {
    upcall::register(Handlers {
        exception: Some(on_fault),
        ..Handlers::default()
    })
    .unwrap();
    for i in 0..PAGES {
        vm::map_fresh(BASE + i * PAGE_SIZE, true).unwrap();
    }
    let p = BASE;
    // prot1 / unprot1: one page, one call each.
    let prot1 = median(200, |n| {
        for _ in 0..n {
            vm::protect(p, false).unwrap();
            vm::protect(p, true).unwrap();
        }
    }) / 2;
    // trap: a write to a protected page, handled at user level (the handler
    // unprotects), resumed; the protect call before it is subtracted.
    let fault_cycle = median(200, |n| {
        for _ in 0..n {
            vm::protect(p, false).unwrap();
            touch(p);
        }
    });
    let trap = fault_cycle.saturating_sub(2 * prot1);
    // prot100 / unprot100: 100 pages in one batched call, per page, each
    // direction timed on its own.
    let (ro, rw) = (batch(false), batch(true));
    let prot100 = median_split(20, |n, half| {
        let mut spent = 0;
        for _ in 0..n {
            let t0 = now();
            vm::apply(&ro).unwrap();
            let t1 = now();
            vm::apply(&rw).unwrap();
            spent += if half == 0 { t1 - t0 } else { now() - t1 };
        }
        spent
    });
    let (prot100, unprot100) = (prot100.0 / PAGES, prot100.1 / PAGES);
    // dirty: query the dirty bit from the exposed page tables (no call).
    let dirty = median(10_000, |n| {
        let mut d = 0;
        for i in 0..n {
            d += vm::is_dirty(BASE + (i % PAGES) * PAGE_SIZE) as u64;
        }
        core::hint::black_box(d);
    });
    // appel1: touch a protected page; the handler unprotects it and protects
    // another (prot1 + trap + unprot), per page.
    vm::apply(&ro).unwrap();
    let appel1 = median(PAGES - 1, |n| {
        for i in 0..n {
            NEXT_TO_PROTECT.store(BASE + ((i + 1) % PAGES) * PAGE_SIZE, Ordering::Relaxed);
            touch(BASE + i * PAGE_SIZE);
        }
        vm::apply(&ro).unwrap();
    });
    // appel2: protect 100 pages in one batch, then touch each; the handler
    // unprotects the touched page (protN + trap + unprot), per page.
    let appel2 = median(PAGES, |n| {
        vm::apply(&ro).unwrap();
        for i in 0..n {
            touch(BASE + i * PAGE_SIZE);
        }
    });
    let tsc_mhz = info::sysinfo().tsc_per_ms / 1000;
    println!("bench: appel_trap {trap} cycles");
    println!("bench: appel_prot1 {prot1} cycles");
    println!("bench: appel_prot100 {prot100} cycles per page");
    println!("bench: appel_unprot100 {unprot100} cycles per page");
    println!("bench: appel_dirty {dirty} cycles");
    println!("bench: appel1 {appel1} cycles per page");
    println!("bench: appel2 {appel2} cycles per page");
    println!(
        "bench-json: {{\"appel_trap\":{trap},\"appel_prot1\":{prot1},\"appel_prot100\":{prot100},\"appel_unprot100\":{unprot100},\"appel_dirty\":{dirty},\"appel1\":{appel1},\"appel2\":{appel2},\"tsc_mhz\":{tsc_mhz}}}"
    );
    0
}
