//! The library OS linked into every guest program (ExOS in Rust): start-up
//! and heap, system calls, console, the kernel's exposed tables, virtual
//! memory, upcalls, PCT, child environments, processes, file descriptors,
//! pipes, signals and time.
#![cfg_attr(not(test), no_std)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod cell;
mod child;
pub mod console;
pub mod fd;
pub mod files;
pub mod fork;
pub mod fs;
mod fslock;
pub mod heap;
pub mod info;
pub mod initrd;
pub mod ipc;
pub mod layout;
pub mod linux;
pub mod net;
pub mod pipe;
pub mod posix;
pub mod process;
pub mod rt;
mod scratch;
pub mod signal;
pub mod spawn;
pub mod sys;
pub mod time;
pub mod upcall;
pub mod vm;
pub mod xn;

/// The name the first process enters in the process table and as its
/// argv[0]: always "init", whichever program `exo.init` names (the kernel
/// does not pass the path on).
pub fn program_name() -> &'static str {
    "init"
}
