//! DPF, dynamic packet filters (thesis §3.2, §6.1): environments download declarative
//! filters; the kernel verifies them, merges all of them into one decision trie, refuses
//! filters that would steal another environment's packets, and compiles the trie to
//! x86-64 machine code. `no_std + alloc`; the `std` feature adds [`exec`] for hosts.
//!
//! Modules: [`atom`] (language) · [`verify`] (verifier, canonical form) · [`interp`]
//! (reference semantics) · [`trie`] (merged trie, trie interpreter) · [`hash`] (hash
//! dispatch) · [`overlap`] (protection) · [`jit`] (x86-64 code) · [`engine`] (the
//! kernel-facing [`Dpf`]) · [`text`] (filter files) · [`dump`] · [`pcap`].

#![no_std]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod atom;
#[cfg(feature = "std")]
pub mod bench;
pub mod dump;
pub mod engine;
#[cfg(any(test, feature = "std"))]
pub mod exec;
pub mod hash;
pub mod interp;
pub mod jit;
pub mod overlap;
pub mod pcap;
pub mod text;
pub mod trie;
pub mod verify;
pub mod workload;

#[cfg(test)]
mod tests;

pub use atom::{Atom, Field, Shift, MAX_ATOMS, MAX_PACKET, MAX_SHIFTS};
pub use engine::{AccessError, Dpf, Grantee, InsertError, Limits};
pub use interp::classify;
pub use jit::JitError;
pub use verify::{Filter, FilterError};

/// Names an installed filter; never reused, never `u32::MAX` (the JIT's "no match").
pub type FilterId = u32;
/// Names an environment (the owner of filters).
pub type EnvId = u32;
