//! Micro-benchmarks of the kernel's primitives, in TSC cycles (median of
//! batches): a null system call, an exception upcall round trip (int3 to
//! the libOS handler and back, no kernel on the way back), a synchronous PCT
//! round trip (call + reply), and a directed-yield round trip between two
//! environments; and the library OS's pipe round trip (one byte each way
//! between two processes), fork+exit+wait, and spawn+wait of a program. Prints one `bench:` line per
//! figure and a JSON line.
#![no_std]
#![no_main]

use core::arch::x86_64::_rdtsc;
use exo_abi::trap::UTrapFrame;
use libos::fork::fork;
use libos::upcall::{self, Handlers, Message, Resume};
use libos::{fd, ipc, pipe, println, process, signal, spawn, sys, vm};

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

/// Where the foreign code for `reflected_call` lives.
const FOREIGN: u64 = 0x5e00_0000_0000;

fn answer(f: &mut UTrapFrame) {
    f.rax = 0;
}

/// Cycles of a system call made by code outside the program (`syscall;
/// ret` on a page of its own), reflected by the kernel to this library OS
/// and answered there: what each call of a foreign (Linux) binary costs.
fn reflected_call() -> u64 {
    if vm::map_code(FOREIGN, &[0x0f, 0x05, 0xc3]).is_err() {
        return 0;
    }
    let mut h = upcall::current();
    h.syscall = Some(answer);
    h.syscall_range = (FOREIGN, FOREIGN + 4096);
    if upcall::register(h).is_err() {
        return 0;
    }
    measure(|| {
        // SAFETY: FOREIGN holds `syscall; ret` (mapped above); the call
        // clobbers rax, rcx and r11.
        unsafe {
            core::arch::asm!("call {f}", f = in(reg) FOREIGN, inlateout("rax") 39u64 => _, lateout("rcx") _, lateout("r11") _)
        };
    })
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
    // What spawn_wait starts: this program, ending at once.
    if process::args().nth(1) == Some("--exit") {
        return 0;
    }
    upcall::register(Handlers {
        exception: Some(on_trap),
        pct_sync: Some(echo),
        ..Handlers::default()
    })
    .unwrap();
    let null = measure(|| {
        sys::env_id_call();
    });
    let upcall = measure(|| {
        // SAFETY: int3 traps to our handler, which resumes after it.
        unsafe { core::arch::asm!("int3") };
    });
    let reflected = reflected_call();
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
    let spawn_wait = spawn_wait();
    let tsc_mhz = libos::info::sysinfo().tsc_per_ms / 1000;
    println!("bench: null_syscall {null} cycles");
    println!("bench: upcall_round_trip {upcall} cycles");
    println!("bench: reflected_syscall {reflected} cycles");
    println!("bench: pct_round_trip {pct} cycles");
    println!("bench: yield_round_trip {yield_rt} cycles");
    println!("bench: pipe_round_trip {pipe_rt} cycles");
    println!("bench: fork_exit_wait {fork_wait} cycles");
    println!("bench: spawn_wait {spawn_wait} cycles");
    println!(
        "bench-json: {{\"null_syscall\":{null},\"upcall_round_trip\":{upcall},\"reflected_syscall\":{reflected},\"pct_round_trip\":{pct},\"yield_round_trip\":{yield_rt},\"pipe_round_trip\":{pipe_rt},\"fork_exit_wait\":{fork_wait},\"spawn_wait\":{spawn_wait},\"tsc_mhz\":{tsc_mhz}}}"
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

/// This program started afresh from the initrd (a new environment, its ELF
/// loaded), ending at once, and waited for: what fork+exec+wait is on Linux.
fn spawn_wait() -> u64 {
    let mut per = [0u64; 5];
    for p in per.iter_mut() {
        // SAFETY: rdtsc has no side effects.
        let t0 = unsafe { _rdtsc() };
        for _ in 0..4 {
            if process::run("/bin/bench_core", &["bench_core", "--exit"]) != Ok(0) {
                return 0;
            }
        }
        // SAFETY: as above.
        *p = (unsafe { _rdtsc() } - t0) / 4;
    }
    per.sort_unstable();
    per[2]
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
