//! virtio devices over the virtio-mmio transport (virtio 1.x, modern only).
//! Descriptor chains are walked with rust-vmm's virtio-queue, which bounds
//! chain lengths and checks addresses against guest memory.

pub mod block;
pub mod mmio;
pub mod net;
#[cfg(test)]
pub(crate) mod test_rig;

use std::os::fd::RawFd;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;

/// VIRTIO_F_VERSION_1: the modern interface, the only one offered.
pub const F_VERSION_1: u64 = 1 << 32;

/// A device behind the transport.
pub trait VirtioDevice: Send {
    fn device_id(&self) -> u32;
    /// Device-specific feature bits (VERSION_1 is added by the transport).
    fn features(&self) -> u64;
    fn queue_max_sizes(&self) -> &[u16];
    /// Reads the configuration space (out-of-range bytes read as zero).
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Processes what the driver made available on queue `index`; returns
    /// whether anything was used (the driver is then interrupted).
    fn process(&mut self, index: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool;
    /// A descriptor that becomes readable when the device's backend has
    /// work for the guest (a TAP with frames); None for devices driven only
    /// by the guest.
    fn backend_fd(&self) -> Option<RawFd> {
        None
    }
    /// Serves the backend's work (see [`VirtioDevice::backend_fd`]); returns
    /// whether anything was used.
    fn process_backend(&mut self, _queues: &mut [Queue], _mem: &GuestMemoryMmap) -> bool {
        false
    }
    /// One line on what the device did, for the VMM's report at exit
    /// (None: nothing worth saying).
    fn report(&self) -> Option<String> {
        None
    }
}
