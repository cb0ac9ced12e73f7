//! A Linux personality: runs a statically linked Linux x86-64 program in
//! this environment. Its segments go where it was linked (this runner lives
//! elsewhere: `/bin/linux` is linked at 1 GiB), it gets a stack of its own
//! with argv, envp and the auxiliary vector, and every `syscall` it
//! executes is reflected by the kernel to `calls::handle` (the kernel
//! learns nothing about Linux), which carries it out on exo's primitives.
//! A process forks (copy-on-write, a new environment) and execs (another
//! program in this same environment) as on Linux.
//! A call not implemented returns -ENOSYS and is counted.

mod calls;
mod dirs;
mod io;
mod load;
mod mem;
mod nr;
mod paths;
mod proc;
mod signal;
mod stack;
mod tty;
mod user;

use crate::sys::Error;
use crate::upcall;
use core::sync::atomic::{AtomicU64, Ordering};

pub use calls::{set_verbose, unimplemented};

/// Runs the Linux program `image` (an ELF executable, found at `path`) as
/// `argv` with environment `envp`; returns only if it cannot be started.
pub fn run(path: &str, image: &[u8], argv: &[&str], envp: &[&str]) -> Error {
    let (entry, sp) = match start(image, argv, envp) {
        Ok(s) => s,
        Err(e) => return e,
    };
    proc::set_exe(path);
    // SAFETY: the program's segments are mapped where it was linked and
    // `sp` is its initial stack (argc, argv, envp, auxv) as the Linux ABI
    // has it; it never returns here (it ends with exit_group, which ends
    // this process). rdx = 0: no function for it to register with atexit.
    unsafe {
        core::arch::asm!(
            "mov rsp, {sp}",
            "xor edx, edx",
            "xor ebp, ebp",
            "jmp {entry}",
            sp = in(reg) sp,
            entry = in(reg) entry,
            options(noreturn)
        )
    }
}

/// Loads `image` into this address space, lays out its stack and sends
/// its system calls here; returns its entry point and stack pointer.
fn start(image: &[u8], argv: &[&str], envp: &[&str]) -> Result<(u64, u64), Error> {
    let prog = load::load(image)?;
    let sp = stack::build(&prog, argv, envp)?;
    mem::init(prog.brk);
    set_bases(0, 0)?;
    let mut h = upcall::current();
    h.syscall = Some(calls::handle);
    h.syscall_range = (prog.lo, prog.hi);
    h.exception = Some(fault);
    upcall::register(h)?;
    Ok((prog.entry, sp))
}

/// Set in the system's first process once it has made or mounted the file
/// system on a disk: it shuts it down cleanly when the program ends.
static OWNS_DISK: AtomicU64 = AtomicU64::new(0);

/// Where programs start when there is a disk: a writable directory on it.
pub const HOME: &str = "/home";

/// For the runner as the system's first process: prepares the disk as
/// init would (a blank one is formatted for XN) and starts the program in
/// `HOME` on it.
pub fn first_process() {
    use crate::files::{prepare_disk, DiskState};
    match prepare_disk() {
        Ok(DiskState::Formatted | DiskState::Mounted) => {
            OWNS_DISK.store(1, Ordering::Relaxed);
            match crate::files::mkdir(HOME) {
                Ok(()) | Err(crate::fs::FsError::Exists) => paths::set_cwd(HOME),
                Err(e) => crate::println!("linux: cannot make {HOME}: {e}"),
            }
        }
        Ok(_) => {}
        Err(e) => crate::println!("linux: file system unavailable: {e}"),
    }
}

/// Ends the process with `code`: the first process shuts the file system
/// down first.
fn exit(code: u8) -> ! {
    if OWNS_DISK.load(Ordering::Relaxed) != 0 && crate::process::pinfo().ppid == 0 {
        crate::fd::close_all();
        if let Err(e) = crate::files::shutdown() {
            crate::println!("linux: the file system was not shut down cleanly: {e}");
        }
    }
    crate::process::exit(code)
}

/// Ends the process as a signal's default action does.
fn exit_by_signal(sig: u8) -> ! {
    crate::process::exit_by_signal(sig)
}

/// A fault of the program (copy-on-write faults never get here): the
/// signal Linux would send for it, to the program's handler or, by
/// default, ending it as that signal does. A fault in the runner itself is
/// the libOS's and stays fatal, reported.
fn fault(f: &mut exo_abi::trap::UTrapFrame) -> upcall::Resume {
    // A page of the program touched for the first time (by it or by this
    // library on its behalf).
    if f.vector == 14 && f.error_code & 1 == 0 && mem::fault_in(f.cr2, f.error_code & 2 != 0) {
        return upcall::Resume::Continue;
    }
    let (lo, hi) = upcall::current().syscall_range;
    if !(lo..hi).contains(&f.rip) && !(mem::regions()[1].0..mem::regions()[1].1).contains(&f.rip) {
        return upcall::Resume::Fatal;
    }
    let sig = match f.vector {
        0 | 16 | 19 => 8, // divide error, x87 and SIMD errors: SIGFPE
        3 => 5,           // int3: SIGTRAP
        6 => 4,           // invalid opcode: SIGILL
        17 => 7,          // alignment check: SIGBUS
        _ => 11,          // page faults, protection faults: SIGSEGV
    };
    signal::fault(f, sig);
    upcall::Resume::Continue
}

/// The program's FS and GS bases (its thread pointer), as it set them.
static FS: AtomicU64 = AtomicU64::new(0);
static GS: AtomicU64 = AtomicU64::new(0);

fn set_bases(fs: u64, gs: u64) -> Result<(), Error> {
    crate::sys::set_bases(fs, gs)?;
    FS.store(fs, Ordering::Relaxed);
    GS.store(gs, Ordering::Relaxed);
    Ok(())
}

/// Gives a forked child (a new environment) the bases its parent had.
fn restore_bases() {
    let _ = set_bases(FS.load(Ordering::Relaxed), GS.load(Ordering::Relaxed));
}
