//! Device models of the exo VMM: the serial console, the debug-exit port and
//! the port-I/O bus that routes a guest's `in`/`out` to them. Every model
//! treats what the guest hands it as untrusted: unknown ports and odd access
//! sizes are answered harmlessly, never with a panic.

pub mod debug_exit;
pub mod net;
pub mod pio;
pub mod serial;
pub mod virtio;
