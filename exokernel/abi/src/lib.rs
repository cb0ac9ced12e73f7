//! The exokernel's ABI: system-call numbers, boot conventions and the
//! machine constants that kernel, libOS, VMM and host tools must agree on.
#![no_std]

pub mod boot;
pub mod initrd;
pub mod syscall;
