//! Networking in the library OS: DPF filters and the packet ring the
//! kernel delivers claimed packets into (`ring`), smoltcp's ARP/IPv4/ICMP/
//! TCP over that ring (`device`, `stack`), and a bare ARP and ping
//! responder (`echo`).

pub mod device;
pub mod echo;
pub mod http;
pub mod ring;
pub mod socket;
pub mod stack;
pub mod xio;
