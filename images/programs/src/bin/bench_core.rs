//! Micro-benchmarks of the kernel's primitives, in TSC cycles (median of
//! batches): a null system call, an exception upcall round trip (int3 to
//! the libOS handler and back, no kernel on the way back), a synchronous PCT
//! round trip (call + reply), and a directed-yield round trip between two
//! environments; and the library OS's pipe round trip (one byte each way
//! between two processes) and fork+exit+wait. Prints one `bench:` line per
//! figure and a JSON line.
#![no_std]
#![no_main]

use core::arch::x86_64::_rdtsc;
use exo_abi::trap::UTrapFrame;
use libos::fork::fork;
use libos::upcall::{self, Handlers, Message, Resume};
use libos::{fd, ipc, pipe, println, process, signal, spawn, sys};

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
    let srv = spawn::spawn(server, b"s", 4, None).unwrap();
    let msg: Message = [0; 9];
    let pct = measure(|| {
        let _ = ipc::call(srv.id, &msg);
    });
    let p = spawn::spawn(partner, b"p", 5, None).unwrap();
    let yield_rt = measure(|| {
        let _ = sys::yield_to(Some(p.id));
    });
    let _ = sys::env_destroy(srv.id, srv.slot);
    let _ = sys::env_destroy(p.id, p.slot);
    let pipe_rt = pipe_round_trip();
    let fork_wait = fork_exit_wait();
    let tsc_mhz = libos::info::sysinfo().tsc_per_ms / 1000;
    println!("bench: null_syscall {null} cycles");
    println!("bench: upcall_round_trip {upcall} cycles");
    println!("bench: pct_round_trip {pct} cycles");
    println!("bench: yield_round_trip {yield_rt} cycles");
    println!("bench: pipe_round_trip {pipe_rt} cycles");
    println!("bench: fork_exit_wait {fork_wait} cycles");
    println!(
        "bench-json: {{\"null_syscall\":{null},\"upcall_round_trip\":{upcall},\"pct_round_trip\":{pct},\"yield_round_trip\":{yield_rt},\"pipe_round_trip\":{pipe_rt},\"fork_exit_wait\":{fork_wait},\"tsc_mhz\":{tsc_mhz}}}"
    );
    0
}

/// One byte to a child process and back, over two pipes.
fn pipe_round_trip() -> u64 {
    let (to_r, to_w) = pipe::pipe().unwrap();
    let (back_r, back_w) = pipe::pipe().unwrap();
    let fds = [
        fd::install(to_r).unwrap(),
        fd::install(to_w).unwrap(),
        fd::install(back_r).unwrap(),
        fd::install(back_w).unwrap(),
    ];
    let child = fork().unwrap();
    let mut b = [0u8; 1];
    if child == 0 {
        loop {
            if fd::read(fds[0], &mut b).unwrap_or(0) == 0 {
                process::exit(0);
            }
            let _ = fd::write(fds[3], &b);
        }
    }
    let cycles = measure(|| {
        let _ = fd::write(fds[1], b"x");
        let _ = fd::read(fds[2], &mut b);
    });
    let _ = signal::kill(child, signal::SIGKILL);
    process::wait(child);
    for f in fds {
        fd::close(f);
    }
    cycles
}

/// fork, the child exits at once, the parent waits for it.
fn fork_exit_wait() -> u64 {
    let mut per = [0u64; 5];
    for p in per.iter_mut() {
        // SAFETY: rdtsc has no side effects.
        let t0 = unsafe { _rdtsc() };
        for _ in 0..4 {
            match fork() {
                Ok(0) => process::exit(0),
                Ok(pid) => {
                    process::wait(pid);
                }
                Err(_) => return 0,
            }
        }
        // SAFETY: as above.
        *p = (unsafe { _rdtsc() } - t0) / 4;
    }
    per.sort_unstable();
    per[2]
}
