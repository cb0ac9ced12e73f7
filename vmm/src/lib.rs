//! The exo virtual machine monitor and host tools, as a library: the `exo`
//! binary is a thin CLI over it and tests drive it directly.

pub mod bench;
pub mod config;
pub mod engine;
pub mod guest_image;
pub mod input;
pub mod kvm;
pub mod netns;
pub mod qemu;
pub mod scratch;
pub mod size;
pub mod tools;
pub mod trace;
