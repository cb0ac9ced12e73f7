//! The same jobs done by the Linux host, measured in the same run as the
//! guest: system calls, signals, pipes, fork, and the Appel-Li VM operations
//! with mprotect and SIGSEGV. Pinned to one CPU so both sides compare alike.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const PAGE: usize = 4096;

/// Nanoseconds per operation: median over rounds of `f(n)` doing `n` operations.
fn median_ns(n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut r: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            f(n);
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    r.sort_by(|a, b| a.total_cmp(b));
    r[4]
}

/// Keeps this process (and its children) on one CPU.
pub fn pin_to_one_cpu() {
    // SAFETY: cpu_set_t is plain data and all zeros is the empty set; CPU_SET
    // writes inside it, and sched_setaffinity reads exactly its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub fn null_syscall() -> f64 {
    median_ns(200_000, |n| {
        for _ in 0..n {
            // SAFETY: SYS_getpid takes no arguments and touches no memory
            // (called directly to bypass any caching).
            unsafe { libc::syscall(libc::SYS_getpid) };
        }
    })
}

extern "C" fn on_trap(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

fn handle(
    sig: libc::c_int,
    h: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
) {
    // SAFETY: all zeros is a valid sigaction (empty mask, no flags) before
    // we fill it in; `h` has the SA_SIGINFO handler signature, and the
    // handlers given here call only async-signal-safe functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = h as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// int3 handled by a SIGTRAP handler and resumed: the upcall's Linux analogue.
pub fn upcall_round_trip() -> f64 {
    handle(libc::SIGTRAP, on_trap);
    let r = median_ns(20_000, |n| {
        for _ in 0..n {
            // SAFETY: int3 raises SIGTRAP, whose handler (installed above)
            // returns at once; execution resumes after the int3 with no
            // register or memory changed.
            unsafe { std::arch::asm!("int3") };
        }
    });
    // SAFETY: SIG_DFL involves no handler of ours.
    unsafe { libc::signal(libc::SIGTRAP, libc::SIG_DFL) };
    r
}

fn fork_child(body: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child runs only `body` and `_exit`. Every caller's body
    // makes only async-signal-safe calls (no allocation, no locks), so the
    // child is sound even if another thread held a lock at the fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        body();
        // SAFETY: _exit ends the child at once: nothing of the parent's state
        // (destructors, atexit handlers, buffers) runs a second time.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// One byte to a child process and back over two pipes.
pub fn pipe_round_trip() -> f64 {
    let (mut a, mut b) = ([0i32; 2], [0i32; 2]);
    // SAFETY: pipe writes two descriptors into each two-element array.
    unsafe {
        libc::pipe(a.as_mut_ptr());
        libc::pipe(b.as_mut_ptr());
    }
    let child = fork_child(|| {
        // SAFETY: these are the child's copies of raw descriptors that no
        // Rust object owns; it keeps only its own ends, so the parent's
        // close ends its loop.
        unsafe {
            libc::close(a[1]);
            libc::close(b[0]);
        }
        let mut c = 0u8;
        // SAFETY: one byte into `c`, a live u8, from our pipe.
        while unsafe { libc::read(a[0], &mut c as *mut u8 as *mut _, 1) } == 1 {
            // SAFETY: one byte from `c` into our pipe.
            unsafe { libc::write(b[1], &c as *const u8 as *const _, 1) };
        }
    });
    // SAFETY: raw descriptors no Rust object owns; the parent keeps only
    // its ends.
    unsafe {
        libc::close(a[0]);
        libc::close(b[1]);
    }
    let mut c = 0u8;
    let r = median_ns(5_000, |n| {
        for _ in 0..n {
            // SAFETY: one byte each way through `c`, a live u8, on our pipes.
            unsafe {
                libc::write(a[1], &c as *const u8 as *const _, 1);
                libc::read(b[0], &mut c as *mut u8 as *mut _, 1);
            }
        }
    });
    // SAFETY: our own raw pipe ends (no Rust object owns them); closing them
    // ends the child, and `child` is its pid, not yet reaped.
    unsafe {
        for fd in [a[1], b[0]] {
            libc::close(fd);
        }
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    r
}

/// sched_yield ping-pong between two processes on one CPU.
pub fn yield_round_trip() -> f64 {
    let child = fork_child(|| loop {
        // SAFETY: sched_yield takes nothing and touches no memory.
        unsafe { libc::sched_yield() };
    });
    let r = median_ns(20_000, |n| {
        for _ in 0..n {
            // SAFETY: sched_yield takes nothing and touches no memory.
            unsafe { libc::sched_yield() };
        }
    });
    // SAFETY: `child` is our child's pid, not yet reaped, so the kill can
    // reach no other process; waitpid takes a null status.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    r
}

pub fn fork_exit_wait() -> f64 {
    median_ns(50, |n| {
        for _ in 0..n {
            let pid = fork_child(|| {});
            // SAFETY: reaps the child just forked; a null status is allowed.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
    })
}

/// A region of `pages` pages for the Appel-Li operations.
struct Region(*mut u8, usize);

impl Region {
    fn new(pages: usize) -> Region {
        // SAFETY: a new anonymous mapping overlaps nothing we use; the
        // Region owns it until drop and reaches it only by raw pointer.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap of the benchmark region");
        let r = Region(p as *mut u8, pages);
        for i in 0..pages {
            r.touch(i);
        }
        r
    }

    fn page(&self, i: usize) -> *mut u8 {
        self.0.wrapping_add(i * PAGE)
    }

    fn protect(&self, first: usize, count: usize, writable: bool) {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: the pages lie inside the Region's mapping, which no Rust
        // reference points into, so no reference loses its guarantees.
        unsafe { libc::mprotect(self.page(first) as *mut _, count * PAGE, prot) };
    }

    fn touch(&self, i: usize) {
        // SAFETY: page `i` lies inside the mapping (callers pass i < pages);
        // if it is protected, on_segv unprotects it and the write retries.
        unsafe { std::ptr::write_volatile(self.page(i), 1) };
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped, once; nothing points into
        // it after the Region is gone.
        unsafe { libc::munmap(self.0 as *mut _, self.1 * PAGE) };
    }
}

/// The page the SIGSEGV handler protects after unprotecting the faulting one (appel1).
static NEXT_TO_PROTECT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_segv(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize & !(PAGE - 1);
    // SAFETY: mprotect is async-signal-safe. Only the benchmark Region's
    // pages are ever protected, so the faulting page and NEXT_TO_PROTECT (one
    // of its pages, or 0) lie in that mapping.
    unsafe {
        libc::mprotect(addr as *mut _, PAGE, libc::PROT_READ | libc::PROT_WRITE);
        let next = NEXT_TO_PROTECT.swap(0, Ordering::Relaxed);
        if next != 0 {
            libc::mprotect(next as *mut _, PAGE, libc::PROT_READ);
        }
    }
}

/// The Appel-Li figures on Linux, in ns: (name, value), as the guest suite names them.
pub fn appel_li() -> Vec<(&'static str, f64)> {
    const PAGES: usize = 100;
    handle(libc::SIGSEGV, on_segv);
    let r = Region::new(PAGES);
    let prot1 = median_ns(20_000, |n| {
        for _ in 0..n {
            r.protect(0, 1, false);
            r.protect(0, 1, true);
        }
    }) / 2.0;
    let cycle = median_ns(5_000, |n| {
        for _ in 0..n {
            r.protect(0, 1, false);
            r.touch(0);
        }
    });
    let trap = (cycle - 2.0 * prot1).max(0.0);
    let prot100 = median_ns(500, |n| {
        for _ in 0..n {
            r.protect(0, PAGES, false);
            r.protect(0, PAGES, true);
        }
    }) / (2 * PAGES) as f64;
    // Linux shows no dirty bit cheaply; the closest is the soft-dirty bit in
    // /proc/self/pagemap, read with one pread per page.
    let dirty = std::fs::File::open("/proc/self/pagemap").map_or(f64::NAN, |f| {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 8];
        median_ns(20_000, |n| {
            for i in 0..n as usize {
                let vpn = r.page(i % PAGES) as u64 / PAGE as u64;
                let _ = f.read_at(&mut b, vpn * 8);
            }
        })
    });
    r.protect(0, PAGES, false);
    let appel1 = median_ns((PAGES - 1) as u64, |n| {
        for i in 0..n as usize {
            NEXT_TO_PROTECT.store(r.page((i + 1) % PAGES) as usize, Ordering::Relaxed);
            r.touch(i);
        }
        r.protect(0, PAGES, false);
    });
    let appel2 = median_ns(PAGES as u64, |n| {
        r.protect(0, PAGES, false);
        for i in 0..n as usize {
            r.touch(i);
        }
    });
    r.protect(0, PAGES, true);
    // SAFETY: SIG_DFL involves no handler of ours.
    unsafe { libc::signal(libc::SIGSEGV, libc::SIG_DFL) };
    vec![
        ("appel_trap", trap),
        ("appel_prot1", prot1),
        ("appel_prot100", prot100),
        ("appel_unprot100", prot100),
        ("appel_dirty", dirty),
        ("appel1", appel1),
        ("appel2", appel2),
    ]
}
