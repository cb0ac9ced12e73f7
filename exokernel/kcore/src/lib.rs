//! The exokernel's policy-free bookkeeping, shared by the kernel and its host
//! tests. Nothing here touches hardware.
#![no_std]

pub mod pages;
pub mod slices;
pub mod wakeup;

pub use exo_abi::syscall::Error;
