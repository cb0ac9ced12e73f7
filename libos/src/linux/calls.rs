//! The Linux system calls, as reflected to this library OS: numbers and
//! arguments in the frame (`rax`; `rdi, rsi, rdx, r10, r8, r9`), the result
//! back in `rax` (a negated errno on failure). One line per call here; the
//! calls themselves are in `io`, `mem`, `proc` and `signal`, and the small
//! ones below.

use super::nr::*;
use super::user::{input, output};
use super::{dirs, io, mem, paths, proc, signal};
use crate::sys;
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::trap::UTrapFrame;

static UNIMPLEMENTED: AtomicU64 = AtomicU64::new(0);
/// Which unimplemented numbers were reported already (one line each).
static REPORTED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Whether to say which calls are not implemented (once each).
static VERBOSE: AtomicU64 = AtomicU64::new(0);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on as u64, Ordering::Relaxed);
}

/// Says why a call failed, when asked to (`-v`).
pub fn note(why: core::fmt::Arguments) {
    if VERBOSE.load(Ordering::Relaxed) != 0 {
        crate::println!("linux: {why}");
    }
}

/// Calls the program made that this personality does not implement.
pub fn unimplemented() -> u64 {
    UNIMPLEMENTED.load(Ordering::Relaxed)
}

/// The reflected-call handler. Calls that replace the whole frame (exec,
/// signal return) take it; the others set `rax`. A signal that is pending
/// when the call ends is delivered then.
pub fn handle(f: &mut UTrapFrame) {
    let a = [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9];
    match f.rax {
        RT_SIGRETURN => signal::sigreturn(f),
        RT_SIGSUSPEND => signal::sigsuspend(f, a[0]),
        PAUSE => signal::pause(f),
        EXECVE => match proc::execve(f, a[0], a[1], a[2]) {
            0 => {}
            e => f.rax = e as u64,
        },
        n => f.rax = call(n, a) as u64,
    }
    super::tty::check_interrupt();
    signal::deliver(f);
}

fn call(n: u64, a: [u64; 6]) -> i64 {
    match n {
        READ => io::read(a[0], a[1], a[2]),
        WRITE => io::write(a[0], a[1], a[2]),
        READV => io::vectored(a[0], a[1], a[2], io::read),
        WRITEV => io::vectored(a[0], a[1], a[2], io::write),
        POLL => io::poll(a[0], a[1], a[2] as i32 as i64),
        PPOLL => io::ppoll(a[0], a[1], a[2]),
        SELECT => match io::timeout_ms(a[4], false) {
            Ok(ms) => io::select(a[0], a[1], a[2], a[3], ms),
            Err(e) => e,
        },
        PSELECT6 => match io::timeout_ms(a[4], true) {
            Ok(ms) => io::select(a[0], a[1], a[2], a[3], ms),
            Err(e) => e,
        },
        SENDFILE => io::sendfile(a[0], a[1], a[2], a[3]),
        GETDENTS64 => dirs::getdents64(a[0], a[1], a[2]),
        CHMOD | FCHMOD | FCHMODAT | CHOWN | FCHOWN | LCHOWN | FCHOWNAT | UTIMENSAT => 0,
        PREAD64 => io::pread(a[0], a[1], a[2], a[3]),
        CLOSE => io::close(a[0]),
        OPEN => paths::open(a[0], a[1]),
        OPENAT if paths::at_cwd(a[0], a[1]) => paths::open(a[1], a[2]),
        LSEEK => io::lseek(a[0], a[1] as i64, a[2]),
        DUP => io::dup(a[0], 0, None, false),
        DUP2 => io::dup(a[0], 0, Some(a[1]), false),
        DUP3 => io::dup(a[0], 0, Some(a[1]), a[2] & O_CLOEXEC != 0),
        FCNTL => io::fcntl(a[0], a[1], a[2]),
        PIPE => io::pipe(a[0], 0),
        PIPE2 => io::pipe(a[0], a[1]),
        GETCWD => paths::getcwd(a[0], a[1]),
        CHDIR => paths::chdir(a[0]),
        FSTAT => paths::fstat(a[0], a[1]),
        STAT | LSTAT => paths::stat(a[0], a[1]),
        NEWFSTATAT => paths::newfstatat(a[0], a[1], a[2], a[3]),
        ACCESS => paths::access(a[0]),
        FACCESSAT | FACCESSAT2 if paths::at_cwd(a[0], a[1]) => paths::access(a[1]),
        MKDIR => paths::path_op(a[0], crate::files::mkdir),
        MKDIRAT if paths::at_cwd(a[0], a[1]) => paths::path_op(a[1], crate::files::mkdir),
        RMDIR => paths::path_op(a[0], crate::files::rmdir),
        UNLINK => paths::path_op(a[0], crate::files::unlink),
        UNLINKAT if paths::at_cwd(a[0], a[1]) && a[2] & AT_REMOVEDIR != 0 => {
            paths::path_op(a[1], crate::files::rmdir)
        }
        UNLINKAT if paths::at_cwd(a[0], a[1]) => paths::path_op(a[1], crate::files::unlink),
        RENAME => paths::rename(a[0], a[1]),
        RENAMEAT | RENAMEAT2 if paths::at_cwd(a[0], a[1]) && paths::at_cwd(a[2], a[3]) => {
            paths::rename(a[1], a[3])
        }
        FSYNC | FDATASYNC => io::fsync(a[0]),
        SYNC => crate::files::sync().map_or(-EIO, |()| 0),
        UMASK => 0o022,
        READLINK | READLINKAT => -EINVAL, // no symbolic links
        IOCTL if io::is_console(a[0]) => super::tty::ioctl(a[1], a[2]),
        IOCTL => -ENOTTY,
        MMAP => mem::mmap(a[0], a[1], a[2], a[3], a[4] as i32 as i64, a[5]),
        MUNMAP => mem::munmap(a[0], a[1]),
        MREMAP => mem::mremap(a[0], a[1], a[2], a[3]),
        MPROTECT | SET_ROBUST_LIST | MADVISE => 0,
        BRK => mem::brk(a[0]),
        FORK | VFORK => proc::fork(0, 0, 0),
        CLONE => proc::fork(a[0], a[2], a[3]),
        // pid_t is 32 bits: -1 arrives as 0xffff_ffff.
        WAIT4 => proc::wait4(a[0] as i32 as i64, a[1], a[2], a[3]),
        KILL => proc::kill(a[0] as i32 as i64, a[1]),
        TGKILL => proc::kill(a[1] as i32 as i64, a[2]),
        TKILL => proc::kill(a[0] as i32 as i64, a[1]),
        RT_SIGACTION => signal::rt_sigaction(a[0], a[1], a[2], a[3]),
        RT_SIGPROCMASK => signal::rt_sigprocmask(a[0], a[1], a[2]),
        SIGALTSTACK => 0,
        PRCTL => -EINVAL,
        RSEQ => -ENOSYS, // glibc does without it
        SCHED_YIELD => {
            let _ = sys::yield_to(None);
            0
        }
        GETPID | GETTID | SET_TID_ADDRESS => crate::process::pid() as i64,
        GETPPID => proc::getppid(),
        GETPGRP | GETSID => proc::getpgid(0),
        GETPGID => proc::getpgid(a[0] as i32 as i64),
        SETPGID => proc::setpgid(a[0] as i32 as i64, a[1] as i32 as i64),
        SETSID => proc::setsid(),
        GETUID | GETGID | GETEUID | GETEGID => 0,
        EXIT | EXIT_GROUP => proc::exit(a[0]),
        UNAME => uname(a[0]),
        ARCH_PRCTL => arch_prctl(a[0], a[1]),
        PRLIMIT64 => prlimit(a[1], a[3]),
        GETRLIMIT => prlimit(a[0], a[1]),
        GETRANDOM => getrandom(a[0], a[1]),
        CLOCK_GETTIME => clock_gettime(a[1]),
        GETTIMEOFDAY => gettimeofday(a[0]),
        TIME => time(a[0]),
        SYSINFO => sysinfo(a[0]),
        NANOSLEEP => nanosleep(a[0]),
        CLOCK_NANOSLEEP if a[1] & TIMER_ABSTIME == 0 => nanosleep(a[2]),
        _ => not_implemented(n),
    }
}

fn uname(buf: u64) -> i64 {
    let Some(u) = output(buf, 6 * 65) else {
        return -EFAULT;
    };
    u.fill(0);
    let fields: [&[u8]; 6] = [
        b"Linux",
        b"exo",
        b"6.1.0-exo",
        b"#1 exo",
        b"x86_64",
        b"(none)",
    ];
    for (i, v) in fields.iter().enumerate() {
        u[i * 65..i * 65 + v.len()].copy_from_slice(v);
    }
    0
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

fn arch_prctl(code: u64, addr: u64) -> i64 {
    let set = |fs: u64, gs: u64| super::set_bases(fs, gs).map_or(-EINVAL, |()| 0);
    let get = |v: &AtomicU64| match output(addr, 8) {
        Some(o) => {
            o.copy_from_slice(&v.load(Ordering::Relaxed).to_le_bytes());
            0
        }
        None => -EFAULT,
    };
    match code {
        ARCH_SET_FS => set(addr, super::GS.load(Ordering::Relaxed)),
        ARCH_SET_GS => set(super::FS.load(Ordering::Relaxed), addr),
        ARCH_GET_FS => get(&super::FS),
        ARCH_GET_GS => get(&super::GS),
        _ => -EINVAL,
    }
}

const RLIMIT_STACK: u64 = 3;
const RLIMIT_NOFILE: u64 = 7;

fn prlimit(resource: u64, old: u64) -> i64 {
    if old == 0 {
        return 0;
    }
    let (cur, max) = match resource {
        RLIMIT_STACK => (1 << 20, 1 << 20),
        RLIMIT_NOFILE => (crate::fd::MAX_FDS as u64, crate::fd::MAX_FDS as u64),
        _ => (u64::MAX, u64::MAX),
    };
    match output(old, 16) {
        Some(o) => {
            o[..8].copy_from_slice(&cur.to_le_bytes());
            o[8..].copy_from_slice(&max.to_le_bytes());
            0
        }
        None => -EFAULT,
    }
}

fn getrandom(buf: u64, len: u64) -> i64 {
    let Some(out) = output(buf, len) else {
        return -EFAULT;
    };
    let mut x = crate::time::tsc() | 1;
    for b in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    len as i64
}

fn clock_gettime(ts: u64) -> i64 {
    let Some(out) = output(ts, 16) else {
        return -EFAULT;
    };
    let us = crate::time::tsc_to_us(crate::time::tsc());
    out[..8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
    out[8..].copy_from_slice(&((us % 1_000_000) * 1000).to_le_bytes());
    0
}

/// `struct sysinfo`: uptime, memory in pages (mem_unit 4096), processes.
fn sysinfo(out: u64) -> i64 {
    let si = crate::info::sysinfo();
    let free = (0..si.npages)
        .filter(|&p| crate::info::page(p).is_some_and(|r| r.owner == exo_abi::pages::FREE))
        .count() as u64;
    let procs = crate::process::entries().count() as u16;
    let mut b = [0u8; 112];
    let uptime = crate::time::uptime_ms() / 1000;
    b[..8].copy_from_slice(&uptime.to_le_bytes());
    b[32..40].copy_from_slice(&si.npages.to_le_bytes()); // totalram
    b[40..48].copy_from_slice(&free.to_le_bytes()); // freeram
    b[80..82].copy_from_slice(&procs.to_le_bytes());
    b[104..108].copy_from_slice(&4096u32.to_le_bytes()); // mem_unit
    if super::user::put(out, &b) {
        0
    } else {
        -EFAULT
    }
}

/// Seconds since boot (the guest has no calendar clock).
fn time(out: u64) -> i64 {
    let s = (crate::time::tsc_to_us(crate::time::tsc()) / 1_000_000) as i64;
    if out != 0 && !super::user::put(out, &s.to_le_bytes()) {
        return -EFAULT;
    }
    s
}

/// `struct timeval` (microseconds) since boot.
fn gettimeofday(tv: u64) -> i64 {
    if tv == 0 {
        return 0;
    }
    let Some(out) = output(tv, 16) else {
        return -EFAULT;
    };
    let us = crate::time::tsc_to_us(crate::time::tsc());
    out[..8].copy_from_slice(&(us / 1_000_000).to_le_bytes());
    out[8..].copy_from_slice(&(us % 1_000_000).to_le_bytes());
    0
}

/// Sleeps at least the `struct timespec` at `req`, in timer ticks.
fn nanosleep(req: u64) -> i64 {
    let Some(ts) = input(req, 16) else {
        return -EFAULT;
    };
    let word = |i: usize| u64::from_le_bytes(ts[i..i + 8].try_into().unwrap_or([0; 8]));
    let (sec, nsec) = (word(0), word(8));
    if sec > i64::MAX as u64 || nsec >= 1_000_000_000 {
        return -EINVAL;
    }
    let hz = crate::info::sysinfo().hz.max(1);
    let ns = sec.saturating_mul(1_000_000_000).saturating_add(nsec);
    let ticks = (ns as u128 * hz as u128).div_ceil(1_000_000_000) as u64;
    // Ticks one at a time: a signal ends the sleep (EINTR).
    let until = sys::ticks() + ticks;
    while sys::ticks() < until {
        if signal::interrupted() {
            return -EINTR;
        }
        crate::time::sleep_ticks(1);
    }
    0
}

fn not_implemented(n: u64) -> i64 {
    UNIMPLEMENTED.fetch_add(1, Ordering::Relaxed);
    let _ = sys::trace_note(exo_abi::trace::event::LINUX_ENOSYS, n, 0);
    let (word, bit) = ((n / 64) as usize, n % 64);
    let first = REPORTED
        .get(word)
        .is_none_or(|w| w.fetch_or(1 << bit, Ordering::Relaxed) & 1 << bit == 0);
    if first && VERBOSE.load(Ordering::Relaxed) != 0 {
        crate::println!("linux: system call {n} is not implemented: -ENOSYS");
    }
    -ENOSYS
}
