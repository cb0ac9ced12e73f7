//! The library OS linked into every guest program: start-up, system calls,
//! console, the kernel's exposed tables, virtual memory, upcalls, PCT and
//! child environments. (Processes, files and networking grow here.)
#![cfg_attr(not(test), no_std)]

pub mod console;
pub mod info;
pub mod ipc;
pub mod rt;
pub mod spawn;
pub mod sys;
pub mod upcall;
pub mod vm;
