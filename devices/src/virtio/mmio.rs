//! The virtio-mmio register file (layout version 2). A misbehaving driver
//! gets its writes ignored or the device marked as needing a reset; nothing
//! it does can make the VMM panic or touch memory outside the guest's.

use super::{VirtioDevice, F_VERSION_1};
use std::os::fd::RawFd;
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

const MAGIC: u32 = 0x7472_6976;
const VENDOR: u32 = 0x4f58_4520; // "EXO "
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_FEATURES_OK: u32 = 8;
const STATUS_NEEDS_RESET: u32 = 64;
/// Interrupt status: used buffers.
const INT_VRING: u32 = 1;

/// A virtio device on the MMIO bus.
pub struct MmioTransport<D: VirtioDevice> {
    device: D,
    mem: GuestMemoryMmap,
    irq: EventFd,
    queues: Vec<Queue>,
    queue_sel: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    status: u32,
    interrupt_status: u32,
}

impl<D: VirtioDevice> MmioTransport<D> {
    pub fn new(device: D, mem: GuestMemoryMmap, irq: EventFd) -> Self {
        let queues = device
            .queue_max_sizes()
            .iter()
            .map(|&m| Queue::new(m).expect("queue sizes are powers of two"))
            .collect();
        MmioTransport {
            device,
            mem,
            irq,
            queues,
            queue_sel: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            status: 0,
            interrupt_status: 0,
        }
    }

    fn features(&self) -> u64 {
        self.device.features() | F_VERSION_1
    }

    fn queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    fn reset(&mut self) {
        for q in &mut self.queues {
            q.reset();
        }
        (
            self.status,
            self.interrupt_status,
            self.driver_features,
            self.queue_sel,
        ) = (0, 0, 0, 0);
    }

    /// Serves queue `index` (a notification, by MMIO write or ioeventfd).
    pub fn notify(&mut self, index: u32) {
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_NEEDS_RESET != 0 {
            return;
        }
        let Some(q) = self.queues.get_mut(index as usize) else {
            return;
        };
        if !q.is_valid(&self.mem) {
            self.status |= STATUS_NEEDS_RESET;
            return;
        }
        if self.device.process(index as usize, q, &self.mem) {
            self.interrupt_status |= INT_VRING;
            let _ = self.irq.write(1);
        }
    }

    /// Serves the backend's pending work (frames arrived on a TAP).
    pub fn backend_event(&mut self) {
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_NEEDS_RESET != 0 {
            return;
        }
        if self
            .queues
            .iter()
            .any(|q| q.ready() && !q.is_valid(&self.mem))
        {
            self.status |= STATUS_NEEDS_RESET;
            return;
        }
        if self.device.process_backend(&mut self.queues, &self.mem) {
            self.interrupt_status |= INT_VRING;
            let _ = self.irq.write(1);
        }
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    /// A guest read of `data.len()` bytes at `offset` in the register window.
    pub fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= 0x100 {
            self.device.read_config(offset - 0x100, data);
            return;
        }
        if data.len() != 4 {
            data.fill(0);
            return;
        }
        let v = match offset {
            0x000 => MAGIC,
            0x004 => 2,
            0x008 => self.device.device_id(),
            0x00c => VENDOR,
            0x010 => match self.device_features_sel {
                0 => self.features() as u32,
                1 => (self.features() >> 32) as u32,
                _ => 0,
            },
            0x034 => self.queue().map_or(0, |q| q.max_size() as u32),
            0x044 => self.queue().map_or(0, |q| q.ready() as u32),
            0x060 => self.interrupt_status,
            0x070 => self.status,
            0x0fc => 0, // config generation: the config never changes
            _ => 0,
        };
        data.copy_from_slice(&v.to_le_bytes());
    }

    /// A guest write at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            return;
        };
        let v = u32::from_le_bytes(bytes);
        // Queue set-up is only allowed before the driver is running.
        let setting_up = self.status & STATUS_DRIVER_OK == 0;
        match offset {
            0x014 => self.device_features_sel = v,
            0x020 if self.status & STATUS_FEATURES_OK == 0 => match self.driver_features_sel {
                0 => self.driver_features = (self.driver_features & !0xffff_ffff) | v as u64,
                1 => {
                    self.driver_features = (self.driver_features & 0xffff_ffff) | ((v as u64) << 32)
                }
                _ => {}
            },
            0x024 => self.driver_features_sel = v,
            0x030 => self.queue_sel = v,
            0x038 if setting_up => {
                // Anything but a power of two up to the maximum would be
                // kept as the old size, and the rings would disagree on
                // where they wrap: the device stops instead.
                let mut refused = false;
                if let Some(q) = self.queue() {
                    if v.is_power_of_two() && v <= q.max_size() as u32 {
                        q.set_size(v as u16);
                    } else {
                        refused = true;
                    }
                }
                if refused {
                    self.status |= STATUS_NEEDS_RESET;
                }
            }
            0x044 if setting_up => {
                if let Some(q) = self.queue() {
                    q.set_ready(v == 1);
                }
            }
            0x050 => self.notify(v),
            0x064 => self.interrupt_status &= !v,
            0x070 => {
                if v == 0 {
                    self.reset();
                } else if v & STATUS_FEATURES_OK != 0 && self.status & STATUS_FEATURES_OK == 0 {
                    // Accept only features we offered, and insist on VERSION_1.
                    let ok = self.driver_features & !self.features() == 0
                        && self.driver_features & F_VERSION_1 != 0;
                    self.status = if ok { v } else { v & !STATUS_FEATURES_OK };
                } else {
                    // NEEDS_RESET is the device's to set and stays until reset.
                    self.status = v | (self.status & STATUS_NEEDS_RESET);
                }
            }
            0x080 | 0x084 | 0x090 | 0x094 | 0x0a0 | 0x0a4 if setting_up => {
                let (lo, hi) = if offset.is_multiple_of(8) {
                    (Some(v), None)
                } else {
                    (None, Some(v))
                };
                if let Some(q) = self.queue() {
                    match offset & !7 {
                        0x080 => q.set_desc_table_address(lo, hi),
                        0x090 => q.set_avail_ring_address(lo, hi),
                        _ => q.set_used_ring_address(lo, hi),
                    }
                }
            }
            _ => {}
        }
    }
}

/// A transport of any device type, as the VMM's bus and device thread see it.
pub trait MmioDevice: Send {
    fn read(&mut self, offset: u64, data: &mut [u8]);
    fn write(&mut self, offset: u64, data: &[u8]);
    fn notify(&mut self, queue: u32);
    fn backend_event(&mut self);
    fn backend_fd(&self) -> Option<RawFd>;
    fn num_queues(&self) -> usize;
    fn report(&self) -> Option<String>;
}

impl<D: VirtioDevice> MmioDevice for MmioTransport<D> {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        MmioTransport::read(self, offset, data)
    }
    fn write(&mut self, offset: u64, data: &[u8]) {
        MmioTransport::write(self, offset, data)
    }
    fn notify(&mut self, queue: u32) {
        MmioTransport::notify(self, queue)
    }
    fn backend_event(&mut self) {
        MmioTransport::backend_event(self)
    }
    fn backend_fd(&self) -> Option<RawFd> {
        self.device.backend_fd()
    }
    fn num_queues(&self) -> usize {
        self.queues.len()
    }
    fn report(&self) -> Option<String> {
        self.device.report()
    }
}
