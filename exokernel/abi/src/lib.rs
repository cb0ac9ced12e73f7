//! The exokernel's ABI: system calls, the shared structures the kernel
//! exposes read-only (page records, environment table, page tables), boot
//! conventions and machine constants that kernel, libOS, VMM and host tools
//! must agree on.
#![no_std]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod boot;
pub mod cap;
pub mod dpf;
pub mod env;
pub mod initrd;
pub mod layout;
pub mod pages;
pub mod program;
pub mod syscall;
pub mod trace;
pub mod trap;
pub mod vm;
pub mod wakeup;
pub mod xn;
