//! Virtio devices of a guest: one virtio-mmio window and interrupt line
//! each, announced on the kernel command line, served by the device thread.

use super::device_thread::{self, SharedDevice, Wake};
use super::Error;
use crate::config::RunConfig;
use exo_devices::net::tap::Tap;
use exo_devices::virtio::block::Block;
use exo_devices::virtio::mmio::{MmioDevice, MmioTransport};
use exo_devices::virtio::net::Net;
use kvm_ioctls::{IoEventAddress, VmFd};
use std::sync::{Arc, Mutex};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Where virtio-mmio windows go (in the 32-bit hole, above the largest RAM).
pub const MMIO_BASE: u64 = 0xd000_0000;
pub const MMIO_SIZE: u64 = 0x1000;
/// Interrupt lines of virtio devices (COM1 is 4).
const FIRST_GSI: u32 = 5;
const QUEUE_NOTIFY: u64 = 0x50;

/// The devices on the MMIO bus, by window base.
pub type MmioBus = Vec<(u64, SharedDevice)>;

/// Creates the disks and network devices of `cfg`, starts the device
/// thread, and returns the bus (the boot code tells the guest of it).
pub fn attach(vm: &VmFd, mem: &GuestMemoryMmap, cfg: &RunConfig) -> Result<MmioBus, Error> {
    let mut devices: Vec<SharedDevice> = Vec::new();
    for (i, d) in cfg.disks.iter().enumerate() {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!d.readonly)
            .open(&d.path)
            .map_err(|e| Error::File(d.path.clone(), e))?;
        let blk = Block::new(file, d.readonly, &format!("exo-disk{i}"))
            .map_err(|e| Error::File(d.path.clone(), e))?;
        devices.push(Arc::new(Mutex::new(MmioTransport::new(
            blk,
            mem.clone(),
            irq_line(vm, gsi_of(devices.len()))?,
        ))));
    }
    for (i, n) in cfg.nets.iter().enumerate() {
        let tap = Tap::open(&n.tap).map_err(|e| Error::Net(n.tap.clone(), e))?;
        devices.push(Arc::new(Mutex::new(MmioTransport::new(
            Net::new(tap, n.mac_or_default(i)),
            mem.clone(),
            irq_line(vm, gsi_of(devices.len()))?,
        ))));
    }
    let mut bus = MmioBus::new();
    let mut wakes = Vec::new();
    for (i, dev) in devices.into_iter().enumerate() {
        let base = MMIO_BASE + i as u64 * MMIO_SIZE;
        let (queues, backend) = {
            let d = dev.lock().unwrap_or_else(|e| e.into_inner());
            (d.num_queues(), d.backend_fd())
        };
        // Queue notifications go to the device thread without stopping the
        // vCPU when KVM can route them to an eventfd; else by MMIO exits.
        for q in 0..queues as u32 {
            let evt = EventFd::new(EFD_NONBLOCK).map_err(|e| Error::Memory(e.to_string()))?;
            let addr = IoEventAddress::Mmio(base + QUEUE_NOTIFY);
            if vm.register_ioevent(&evt, &addr, q).is_ok() {
                wakes.push((Wake::Queue { evt, queue: q }, dev.clone()));
            }
        }
        if let Some(fd) = backend {
            wakes.push((Wake::Backend(fd), dev.clone()));
        }
        bus.push((base, dev));
    }
    if !wakes.is_empty() {
        device_thread::spawn(wakes).map_err(|e| Error::Memory(format!("device thread: {e}")))?;
    }
    Ok(bus)
}

/// The interrupt line of the `i`th device on the bus.
fn gsi_of(i: usize) -> u32 {
    FIRST_GSI + i as u32
}

/// The bus's windows and interrupt lines, to tell the guest of.
pub fn devices(bus: &MmioBus) -> Vec<super::acpi::MmioDevice> {
    bus.iter()
        .enumerate()
        .map(|(i, (base, _))| super::acpi::MmioDevice {
            base: *base,
            size: MMIO_SIZE,
            gsi: gsi_of(i),
        })
        .collect()
}

/// An eventfd that raises interrupt line `gsi`.
fn irq_line(vm: &VmFd, gsi: u32) -> Result<EventFd, Error> {
    let irq = EventFd::new(EFD_NONBLOCK).map_err(|e| Error::Memory(e.to_string()))?;
    vm.register_irqfd(&irq, gsi)
        .map_err(|e| Error::Kvm("IRQFD", e))?;
    Ok(irq)
}

/// The device whose window holds `addr`, and the offset in it.
pub fn find(bus: &MmioBus, addr: u64) -> Option<(&SharedDevice, u64)> {
    bus.iter()
        .find(|(base, _)| addr >= *base && addr < *base + MMIO_SIZE)
        .map(|(base, d)| (d, addr - base))
}

/// Runs `f` on a device, even if another thread panicked holding it.
pub fn with<R>(dev: &SharedDevice, f: impl FnOnce(&mut dyn MmioDevice) -> R) -> R {
    f(&mut *dev.lock().unwrap_or_else(|e| e.into_inner()))
}
