//! Networking in the library OS. For now raw frames through the kernel's
//! guarded calls and a responder for ARP and ICMP echo; the full stack
//! (issue: library network stack) builds on DPF packet rings.

pub mod echo;
