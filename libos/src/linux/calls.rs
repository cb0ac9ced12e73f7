//! The Linux system calls, as reflected to this library OS: numbers and
//! arguments in the frame (`rax`; `rdi, rsi, rdx, r10, r8, r9`), the result
//! back in `rax` (a negated errno on failure). Memory arguments are the
//! program's own, in this address space: each is checked mapped (and
//! writable where written) before use, or the call fails with EFAULT.

use super::nr::*;
use crate::sys;
use crate::vm::{self, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::layout::{pte, USER_TOP};
use exo_abi::trap::UTrapFrame;

/// Where anonymous mappings go (upward).
const MMAP_BASE: u64 = 0x2000_0000_0000;

static BRK_START: AtomicU64 = AtomicU64::new(0);
static BRK_NOW: AtomicU64 = AtomicU64::new(0);
static MMAP_NEXT: AtomicU64 = AtomicU64::new(MMAP_BASE);
static FS: AtomicU64 = AtomicU64::new(0);
static GS: AtomicU64 = AtomicU64::new(0);
static UNIMPLEMENTED: AtomicU64 = AtomicU64::new(0);
/// Which unimplemented numbers were reported already (one line each).
static REPORTED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Whether to say which calls are not implemented (once each).
static VERBOSE: AtomicU64 = AtomicU64::new(0);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on as u64, Ordering::Relaxed);
}

/// Calls the program made that this personality does not implement.
pub fn unimplemented() -> u64 {
    UNIMPLEMENTED.load(Ordering::Relaxed)
}

pub fn init(brk: u64) {
    BRK_START.store(brk, Ordering::Relaxed);
    BRK_NOW.store(brk, Ordering::Relaxed);
}

/// The reflected-call handler.
pub fn handle(f: &mut UTrapFrame) {
    let a = [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9];
    f.rax = call(f.rax, a) as u64;
}

fn call(n: u64, a: [u64; 6]) -> i64 {
    match n {
        READ => read(a[0], a[1], a[2]),
        WRITE => write(a[0], a[1], a[2]),
        READV => vectored(a[0], a[1], a[2], read),
        WRITEV => vectored(a[0], a[1], a[2], write),
        CLOSE => match crate::fd::get(a[0] as usize) {
            Ok(_) => {
                crate::fd::close(a[0] as usize);
                0
            }
            Err(_) => -EBADF,
        },
        OPEN => open(a[0], a[1]),
        OPENAT => open(a[1], a[2]),
        LSEEK => lseek(a[0], a[1] as i64, a[2]),
        DUP => dup(a[0], 0, None),
        DUP2 | DUP3 => dup(a[0], 0, Some(a[1])),
        FCNTL => fcntl(a[0], a[1], a[2]),
        GETCWD => getcwd(a[0], a[1]),
        PRCTL => -EINVAL,
        RSEQ => -ENOSYS, // glibc does without it
        FSTAT => fstat(a[0], a[1]),
        NEWFSTATAT if a[3] & AT_EMPTY_PATH != 0 => fstat(a[0], a[2]),
        NEWFSTATAT | READLINK => -ENOENT,
        MMAP => mmap(a[0], a[1], a[2], a[3], a[4] as i64),
        MUNMAP => munmap(a[0], a[1]),
        MPROTECT | SET_ROBUST_LIST => 0,
        BRK => brk(a[0]),
        RT_SIGACTION => zero_out(a[2], 32),
        RT_SIGPROCMASK => zero_out(a[2], 8),
        IOCTL => -ENOTTY,
        SCHED_YIELD => {
            let _ = sys::yield_to(None);
            0
        }
        GETPID | GETTID | SET_TID_ADDRESS => crate::process::pid() as i64,
        GETPPID => crate::process::pinfo().ppid as i64,
        GETUID | GETGID | GETEUID | GETEGID => 0,
        EXIT | EXIT_GROUP => crate::process::exit(a[0] as u8),
        UNAME => uname(a[0]),
        ARCH_PRCTL => arch_prctl(a[0], a[1]),
        PRLIMIT64 => prlimit(a[1], a[3]),
        GETRANDOM => getrandom(a[0], a[1]),
        CLOCK_GETTIME => clock_gettime(a[1]),
        GETTIMEOFDAY => gettimeofday(a[0]),
        NANOSLEEP => nanosleep(a[0]),
        CLOCK_NANOSLEEP if a[1] & TIMER_ABSTIME == 0 => nanosleep(a[2]),
        _ => not_implemented(n),
    }
}

/// Whether `[p, p + len)` is mapped here (and writable if `write`).
fn mapped(p: u64, len: u64, write: bool) -> bool {
    let Some(end) = p.checked_add(len).filter(|&e| e <= USER_TOP) else {
        return false;
    };
    let mut page = p & !(PAGE_SIZE - 1);
    while page < end {
        let e = crate::info::pte(page);
        if e & pte::PRESENT == 0 || (write && e & (pte::WRITABLE | crate::fork::PTE_COW) == 0) {
            return false;
        }
        page += PAGE_SIZE;
    }
    true
}

fn input(p: u64, len: u64) -> Option<&'static [u8]> {
    // SAFETY: the range is mapped in this address space (checked); the
    // program's memory, which only it and this handler (on its behalf) use.
    mapped(p, len, false)
        .then(|| unsafe { core::slice::from_raw_parts(p as *const u8, len as usize) })
}

fn output(p: u64, len: u64) -> Option<&'static mut [u8]> {
    // SAFETY: as for `input`, mapped writable (or copy-on-write: writing
    // takes the fault the library OS resolves).
    mapped(p, len, true)
        .then(|| unsafe { core::slice::from_raw_parts_mut(p as *mut u8, len as usize) })
}

/// Set once the console's input has ended (Ctrl-D, or the end of what the
/// VMM was given): every later read returns end of file, as from a pipe.
static CONSOLE_ENDED: AtomicU64 = AtomicU64::new(0);
const END_OF_INPUT: u8 = 4;

fn read(fd: u64, buf: u64, len: u64) -> i64 {
    let Some(out) = output(buf, len) else {
        return -EFAULT;
    };
    let console = crate::fd::get(fd as usize).is_ok_and(|f| f.kind == crate::fd::kind::CONSOLE);
    if console && CONSOLE_ENDED.load(Ordering::Relaxed) != 0 {
        return 0;
    }
    match crate::fd::read(fd as usize, out) {
        Ok(n) if console => match out[..n].iter().position(|&b| b == END_OF_INPUT) {
            Some(end) => {
                CONSOLE_ENDED.store(1, Ordering::Relaxed);
                end as i64
            }
            None => n as i64,
        },
        Ok(n) => n as i64,
        Err(_) => -EBADF,
    }
}

/// The program's own files are the initrd's, read-only, for now.
fn open(path: u64, flags: u64) -> i64 {
    const O_ACCMODE: u64 = 3;
    let Some(name) = c_string(path) else {
        return -EFAULT;
    };
    if flags & O_ACCMODE != 0 {
        return -EROFS;
    }
    match crate::posix::open(name) {
        Ok(fd) => fd as i64,
        Err(_) => -ENOENT,
    }
}

/// A NUL-terminated path of at most 4 KiB.
fn c_string(p: u64) -> Option<&'static str> {
    let mut len = 0;
    while len < 4096 {
        let b = input(p + len, 1)?;
        if b[0] == 0 {
            return core::str::from_utf8(input(p, len)?).ok();
        }
        len += 1;
    }
    None
}

const SEEK_SET: u64 = 0;
const SEEK_CUR: u64 = 1;

fn lseek(fd: u64, off: i64, whence: u64) -> i64 {
    let Ok(f) = crate::fd::get(fd as usize) else {
        return -EBADF;
    };
    if f.kind == crate::fd::kind::CONSOLE || f.pipe_va().is_some() {
        return -ESPIPE;
    }
    let to = match whence {
        SEEK_SET => off,
        SEEK_CUR => f.pos as i64 + off,
        _ => return -EINVAL,
    };
    if to < 0 {
        return -EINVAL;
    }
    crate::fd::seek(fd as usize, to as u64).map_or(-EBADF, |()| to)
}

fn dup(fd: u64, min: u64, to: Option<u64>) -> i64 {
    if crate::fd::get(fd as usize).is_err() {
        return -EBADF;
    }
    match crate::fd::dup(fd as usize, min as usize, to.map(|t| t as usize)) {
        Ok(n) => n as i64,
        Err(sys::Error::NoMem) => -EMFILE,
        Err(_) => -EBADF,
    }
}

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_DUPFD_CLOEXEC: u64 = 1030;
const O_RDWR: i64 = 2;

fn fcntl(fd: u64, cmd: u64, arg: u64) -> i64 {
    if crate::fd::get(fd as usize).is_err() {
        return -EBADF;
    }
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => dup(fd, arg, None),
        F_GETFD | F_SETFD | F_SETFL => 0,
        F_GETFL => O_RDWR,
        _ => -EINVAL,
    }
}

fn getcwd(buf: u64, size: u64) -> i64 {
    if size < 2 {
        return -ERANGE;
    }
    match output(buf, 2) {
        Some(o) => {
            o.copy_from_slice(b"/\0");
            2
        }
        None => -EFAULT,
    }
}

fn write(fd: u64, buf: u64, len: u64) -> i64 {
    let Some(data) = input(buf, len) else {
        return -EFAULT;
    };
    crate::fd::write(fd as usize, data).map_or(-EBADF, |n| n as i64)
}

/// readv/writev: one call per `struct iovec { base, len }`.
fn vectored(fd: u64, iov: u64, count: u64, each: fn(u64, u64, u64) -> i64) -> i64 {
    let Some(v) = input(iov, count.saturating_mul(16)).filter(|_| count <= 1024) else {
        return -EFAULT;
    };
    let mut total = 0;
    for e in v.chunks_exact(16) {
        let word = |i: usize| u64::from_le_bytes(e[i..i + 8].try_into().unwrap_or([0; 8]));
        let r = each(fd, word(0), word(8));
        if r < 0 {
            return if total > 0 { total } else { r };
        }
        total += r;
        if (r as u64) < word(8) {
            break;
        }
    }
    total
}

const AT_EMPTY_PATH: u64 = 0x1000;
const S_IFCHR: u32 = 0o020000;

/// `struct stat` for a descriptor: the console is a character device.
fn fstat(fd: u64, buf: u64) -> i64 {
    if crate::fd::get(fd as usize).is_err() {
        return -EBADF;
    }
    let Some(st) = output(buf, 144) else {
        return -EFAULT;
    };
    st.fill(0);
    st[16..24].copy_from_slice(&1u64.to_le_bytes()); // st_nlink
    st[24..28].copy_from_slice(&(S_IFCHR | 0o620).to_le_bytes()); // st_mode
    st[56..64].copy_from_slice(&4096u64.to_le_bytes()); // st_blksize
    0
}

fn zero_out(p: u64, len: u64) -> i64 {
    if p != 0 {
        match output(p, len) {
            Some(b) => b.fill(0),
            None => return -EFAULT,
        }
    }
    0
}

const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const PROT_EXEC: u64 = 4;

/// Anonymous mappings only (zeroed pages, writable).
fn mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: i64) -> i64 {
    let _ = fd; // ignored for anonymous mappings, as Linux does
    if flags & MAP_ANONYMOUS == 0 {
        return -ENOSYS; // file-backed mappings: not yet
    }
    let Some(len) = len
        .checked_next_multiple_of(PAGE_SIZE)
        .filter(|&l| l > 0 && l < 1 << 40)
    else {
        return -EINVAL;
    };
    let at = if flags & MAP_FIXED != 0 {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return -EINVAL;
        }
        addr
    } else {
        MMAP_NEXT.fetch_add(len, Ordering::Relaxed)
    };
    if at.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return -ENOMEM;
    }
    let mut va = at;
    while va < at + len {
        let r = vm::alloc_page(0).and_then(|ppn| {
            vm::apply(&[vm::map_op(va, ppn, true, prot & PROT_EXEC != 0, 0)]).map_err(|e| e.1)
        });
        if r.is_err() {
            return -ENOMEM;
        }
        va += PAGE_SIZE;
    }
    at as i64
}

fn munmap(addr: u64, len: u64) -> i64 {
    if !addr.is_multiple_of(PAGE_SIZE) || addr.checked_add(len).is_none_or(|e| e > USER_TOP) {
        return -EINVAL;
    }
    let mut va = addr;
    while va < addr + len {
        if let Some(ppn) = vm::ppn_of(va) {
            if vm::unmap(va).is_ok() {
                let _ = sys::p_free(ppn, 0);
            }
        }
        va += PAGE_SIZE;
    }
    0
}

/// The heap after the program's data: grows by mapping zeroed pages.
fn brk(want: u64) -> i64 {
    let now = BRK_NOW.load(Ordering::Relaxed);
    if want <= BRK_START.load(Ordering::Relaxed) || want > super::load::LOAD_LIMIT {
        return now as i64;
    }
    let mapped_to = now.next_multiple_of(PAGE_SIZE);
    let mut va = mapped_to;
    while va < want {
        if vm::map_fresh(va, true).is_err() {
            return now as i64;
        }
        va += PAGE_SIZE;
    }
    BRK_NOW.store(want, Ordering::Relaxed);
    want as i64
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
    let set = |fs: u64, gs: u64| {
        if sys::set_bases(fs, gs).is_err() {
            return -EINVAL;
        }
        FS.store(fs, Ordering::Relaxed);
        GS.store(gs, Ordering::Relaxed);
        0
    };
    let get = |v: &AtomicU64| match output(addr, 8) {
        Some(o) => {
            o.copy_from_slice(&v.load(Ordering::Relaxed).to_le_bytes());
            0
        }
        None => -EFAULT,
    };
    match code {
        ARCH_SET_FS => set(addr, GS.load(Ordering::Relaxed)),
        ARCH_SET_GS => set(FS.load(Ordering::Relaxed), addr),
        ARCH_GET_FS => get(&FS),
        ARCH_GET_GS => get(&GS),
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

const TIMER_ABSTIME: u64 = 1;

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
    crate::time::sleep_ticks(ticks);
    0
}

fn not_implemented(n: u64) -> i64 {
    UNIMPLEMENTED.fetch_add(1, Ordering::Relaxed);
    let (word, bit) = ((n / 64) as usize, n % 64);
    let first = REPORTED
        .get(word)
        .is_none_or(|w| w.fetch_or(1 << bit, Ordering::Relaxed) & 1 << bit == 0);
    if first && VERBOSE.load(Ordering::Relaxed) != 0 {
        crate::println!("linux: system call {n} is not implemented: -ENOSYS");
    }
    -ENOSYS
}
