//! The virtio-mmio transport (virtio 1.x, "modern", register layout v2):
//! device discovery, reset, feature negotiation and queue set-up.

use crate::mem::phys_to_virt;
use core::sync::atomic::{fence, Ordering};

pub const MAGIC: u32 = 0x7472_6976; // "virt"
const REG_MAGIC: usize = 0x000;
const REG_VERSION: usize = 0x004;
const REG_DEVICE_ID: usize = 0x008;
const REG_DEVICE_FEATURES: usize = 0x010;
const REG_DEVICE_FEATURES_SEL: usize = 0x014;
const REG_DRIVER_FEATURES: usize = 0x020;
const REG_DRIVER_FEATURES_SEL: usize = 0x024;
const REG_QUEUE_SEL: usize = 0x030;
const REG_QUEUE_NUM_MAX: usize = 0x034;
const REG_QUEUE_NUM: usize = 0x038;
const REG_QUEUE_READY: usize = 0x044;
const REG_QUEUE_NOTIFY: usize = 0x050;
const REG_INTERRUPT_STATUS: usize = 0x060;
const REG_INTERRUPT_ACK: usize = 0x064;
const REG_STATUS: usize = 0x070;
const REG_QUEUE_DESC: usize = 0x080;
const REG_QUEUE_DRIVER: usize = 0x090;
const REG_QUEUE_DEVICE: usize = 0x0a0;
pub const REG_CONFIG: usize = 0x100;

const STATUS_ACK: u32 = 1;
const STATUS_DRIVER: u32 = 2;
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_FEATURES_OK: u32 = 8;
const STATUS_FAILED: u32 = 128;

/// VIRTIO_F_VERSION_1 (feature bit 32): the modern interface.
const F_VERSION_1_HIGH: u32 = 1;

/// Why a device could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    NotVirtio,
    LegacyOnly,
    WrongDevice(u32),
    FeaturesRefused,
    NoQueue,
}

/// A mapped virtio-mmio register window.
pub struct Transport {
    base: *mut u8,
}

// SAFETY: the window is device memory used by one CPU under the kernel's locks.
unsafe impl Send for Transport {}

impl Transport {
    /// The window at physical `base` (mapped uncached in the kernel region).
    pub fn new(base: u64) -> Transport {
        Transport {
            base: phys_to_virt(base),
        }
    }

    pub fn read(&self, off: usize) -> u32 {
        // SAFETY: `off` is a register offset inside the mapped window.
        unsafe { (self.base.add(off) as *const u32).read_volatile() }
    }

    pub fn write(&self, off: usize, v: u32) {
        // SAFETY: as for `read`.
        unsafe { (self.base.add(off) as *mut u32).write_volatile(v) }
    }

    pub fn config_u8(&self, off: usize) -> u8 {
        // SAFETY: a byte of the device's configuration space in the window.
        unsafe { self.base.add(REG_CONFIG + off).read_volatile() }
    }

    pub fn config_u64(&self, off: usize) -> u64 {
        self.read(REG_CONFIG + off) as u64 | (self.read(REG_CONFIG + off + 4) as u64) << 32
    }

    /// Resets the device and negotiates VERSION_1 plus whichever of the
    /// device-specific features `want` (bits 0..31) it offers, for a device
    /// of type `device_id`; returns the features agreed.
    pub fn init(&self, device_id: u32, want: u32) -> Result<u32, SetupError> {
        if self.read(REG_MAGIC) != MAGIC {
            return Err(SetupError::NotVirtio);
        }
        if self.read(REG_VERSION) != 2 {
            return Err(SetupError::LegacyOnly);
        }
        let id = self.read(REG_DEVICE_ID);
        if id != device_id {
            return Err(SetupError::WrongDevice(id));
        }
        self.write(REG_STATUS, 0);
        self.write(REG_STATUS, STATUS_ACK);
        self.write(REG_STATUS, STATUS_ACK | STATUS_DRIVER);
        self.write(REG_DEVICE_FEATURES_SEL, 0);
        let low = self.read(REG_DEVICE_FEATURES) & want;
        self.write(REG_DEVICE_FEATURES_SEL, 1);
        let high = self.read(REG_DEVICE_FEATURES);
        if high & F_VERSION_1_HIGH == 0 {
            return Err(SetupError::LegacyOnly);
        }
        self.write(REG_DRIVER_FEATURES_SEL, 0);
        self.write(REG_DRIVER_FEATURES, low);
        self.write(REG_DRIVER_FEATURES_SEL, 1);
        self.write(REG_DRIVER_FEATURES, F_VERSION_1_HIGH);
        self.write(REG_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
        if self.read(REG_STATUS) & STATUS_FEATURES_OK == 0 {
            self.write(REG_STATUS, STATUS_FAILED);
            return Err(SetupError::FeaturesRefused);
        }
        Ok(low)
    }

    /// Sets up queue `q` with `num` entries at the given physical addresses;
    /// returns the size used (at most the device's maximum).
    pub fn setup_queue(
        &self,
        q: u32,
        num: u32,
        desc: u64,
        avail: u64,
        used: u64,
    ) -> Result<u32, SetupError> {
        self.write(REG_QUEUE_SEL, q);
        let max = self.read(REG_QUEUE_NUM_MAX);
        if max == 0 {
            return Err(SetupError::NoQueue);
        }
        let num = num.min(max);
        // Split rings are a power of two long (virtio 1.x, 2.7): a device
        // may refuse any other size and keep its own, and then the two
        // sides disagree on where each ring wraps.
        if !num.is_power_of_two() {
            return Err(SetupError::NoQueue);
        }
        self.write(REG_QUEUE_NUM, num);
        for (reg, addr) in [
            (REG_QUEUE_DESC, desc),
            (REG_QUEUE_DRIVER, avail),
            (REG_QUEUE_DEVICE, used),
        ] {
            self.write(reg, addr as u32);
            self.write(reg + 4, (addr >> 32) as u32);
        }
        self.write(REG_QUEUE_READY, 1);
        Ok(num)
    }

    /// Tells the device it may run.
    pub fn driver_ok(&self) {
        let s = self.read(REG_STATUS);
        self.write(REG_STATUS, s | STATUS_DRIVER_OK);
    }

    /// Notifies queue `q` of new buffers.
    pub fn notify(&self, q: u32) {
        fence(Ordering::SeqCst);
        self.write(REG_QUEUE_NOTIFY, q);
    }

    /// Acknowledges pending interrupts (we poll).
    pub fn ack_interrupts(&self) {
        let s = self.read(REG_INTERRUPT_STATUS);
        if s != 0 {
            self.write(REG_INTERRUPT_ACK, s);
        }
    }
}
