//! Micro-benchmarks of the kernel's primitives, in TSC cycles (median of
//! batches): a null system call, an exception upcall round trip (int3 to
//! the libOS handler and back, no kernel on the way back), a synchronous PCT
//! round trip (call + reply), and a directed-yield round trip between two
//! environments. Prints one `bench:` line per figure and a JSON line.
#![no_std]
#![no_main]

use core::arch::x86_64::_rdtsc;
use exo_abi::trap::UTrapFrame;
use libos::upcall::{self, Handlers, Message, Resume};
use libos::{ipc, println, spawn, sys};

libos::entry!(main);

const BATCH: u64 = 200;
const BATCHES: usize = 15;

/// Median over batches of the mean cycles per call of `f`.
fn measure(mut f: impl FnMut()) -> u64 {
    let mut per = [0u64; BATCHES];
    for p in per.iter_mut() {
        // SAFETY: rdtsc has no side effects.
        let t0 = unsafe { _rdtsc() };
        for _ in 0..BATCH {
            f();
        }
        // SAFETY: as above.
        *p = (unsafe { _rdtsc() } - t0) / BATCH;
    }
    per.sort_unstable();
    per[BATCHES / 2]
}

fn on_trap(_f: &mut UTrapFrame) -> Resume {
    Resume::Continue
}

fn echo(_caller: u32, _m: &mut Message) {}

extern "C" fn partner() -> u8 {
    let parent = libos::info::sysinfo().init_env;
    loop {
        let _ = sys::yield_to(Some(parent));
    }
}

extern "C" fn server() -> u8 {
    loop {
        let _ = sys::yield_to(None);
    }
}

fn main() -> u8 {
    upcall::register(Handlers {
        exception: Some(on_trap),
        pct_sync: Some(echo),
        ..Handlers::default()
    })
    .unwrap();
    let null = measure(|| {
        sys::env_id();
    });
    let upcall = measure(|| {
        // SAFETY: int3 traps to our handler, which resumes after it.
        unsafe { core::arch::asm!("int3") };
    });
    let srv = spawn::spawn(server, b"s", 1, None).unwrap();
    let msg: Message = [0; 9];
    let pct = measure(|| {
        let _ = ipc::call(srv.id, &msg);
    });
    let p = spawn::spawn(partner, b"p", 2, None).unwrap();
    let yield_rt = measure(|| {
        let _ = sys::yield_to(Some(p.id));
    });
    let tsc_mhz = libos::info::sysinfo().tsc_per_ms / 1000;
    println!("bench: null_syscall {null} cycles");
    println!("bench: upcall_round_trip {upcall} cycles");
    println!("bench: pct_round_trip {pct} cycles");
    println!("bench: yield_round_trip {yield_rt} cycles");
    println!(
        "bench-json: {{\"null_syscall\":{null},\"upcall_round_trip\":{upcall},\"pct_round_trip\":{pct},\"yield_round_trip\":{yield_rt},\"tsc_mhz\":{tsc_mhz}}}"
    );
    let _ = sys::env_destroy(srv.id, srv.slot);
    let _ = sys::env_destroy(p.id, p.slot);
    0
}
