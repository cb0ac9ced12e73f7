//! Networking in the library OS: DPF filters and the packet ring the
//! kernel delivers claimed packets into (`ring`), a responder for ARP and
//! ICMP echo (`echo`); the full stack (issue: library network stack) builds
//! on these.

pub mod echo;
pub mod ring;
