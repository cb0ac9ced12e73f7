//! The library OS linked into every guest program: start-up, system calls,
//! console. (Virtual memory, processes, IPC and files grow here.)
#![cfg_attr(not(test), no_std)]

pub mod console;
pub mod rt;
pub mod sys;
