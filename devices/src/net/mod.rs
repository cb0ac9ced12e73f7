//! Network backends for virtio-net: where the guest's frames go and come from.

pub mod tap;

use std::io;

/// Something that carries whole Ethernet frames, without blocking.
pub trait NetBackend: Send {
    /// Sends one frame; a frame the backend cannot take is an error.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Receives one frame into `buf`, or None if none is waiting.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// A file descriptor that becomes readable when frames arrive.
    fn fd(&self) -> Option<std::os::fd::RawFd>;
}
