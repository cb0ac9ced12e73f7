//! A Linux personality: runs a statically linked Linux x86-64 program in
//! this environment. Its segments go where it was linked (this runner lives
//! elsewhere: `/bin/linux` is linked at 1 GiB), it gets a stack of its own
//! with argv, envp and the auxiliary vector, and every `syscall` it
//! executes is reflected by the kernel to `calls::handle` (the kernel
//! learns nothing about Linux), which carries it out on exo's primitives.
//! A call not implemented returns -ENOSYS and is counted.

mod calls;
mod load;
mod nr;
mod stack;

use crate::sys::Error;
use crate::upcall;

pub use calls::{set_verbose, unimplemented};

/// Runs the Linux program `image` (an ELF executable) as `argv` with
/// environment `envp`; returns only if it cannot be started.
pub fn run(image: &[u8], argv: &[&str], envp: &[&str]) -> Error {
    let prog = match load::load(image) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let sp = match stack::build(&prog, argv, envp) {
        Ok(sp) => sp,
        Err(e) => return e,
    };
    calls::init(prog.brk);
    let mut h = upcall::current();
    h.syscall = Some(calls::handle);
    h.syscall_range = (prog.lo, prog.hi);
    if let Err(e) = upcall::register(h) {
        return e;
    }
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
            entry = in(reg) prog.entry,
            options(noreturn)
        )
    }
}
