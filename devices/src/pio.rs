//! The port-I/O bus: devices claim port ranges; accesses elsewhere read as
//! all ones and writes are dropped (like an empty ISA bus).

/// A device reachable through port I/O.
pub trait PioDevice: Send {
    /// Reads `data.len()` bytes at `offset` within the device's range.
    fn read(&mut self, offset: u16, data: &mut [u8]);
    /// Writes `data` at `offset`; returns an action for the VMM, if any.
    fn write(&mut self, offset: u16, data: &[u8]) -> Option<BusAction>;
}

/// Something a device asks the VMM to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusAction {
    /// The guest asked to stop with this exit status.
    Exit(u8),
}

struct Entry {
    base: u16,
    len: u16,
    dev: Box<dyn PioDevice>,
}

/// Devices by port range.
#[derive(Default)]
pub struct PioBus {
    devices: Vec<Entry>,
}

/// A range overlaps one already on the bus.
#[derive(Debug, PartialEq, Eq)]
pub struct Overlap;

impl PioBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `dev` at ports `[base, base + len)`.
    pub fn insert(&mut self, base: u16, len: u16, dev: Box<dyn PioDevice>) -> Result<(), Overlap> {
        let end = base as u32 + len as u32;
        if len == 0
            || self
                .devices
                .iter()
                .any(|e| (base as u32) < e.base as u32 + e.len as u32 && (e.base as u32) < end)
        {
            return Err(Overlap);
        }
        self.devices.push(Entry { base, len, dev });
        Ok(())
    }

    fn find(&mut self, port: u16, size: usize) -> Option<(&mut Entry, u16)> {
        self.devices.iter_mut().find_map(|e| {
            let off = port.checked_sub(e.base)?;
            (off as usize + size <= e.len as usize).then_some((e, off))
        })
    }

    /// A guest `in`: fills `data` (all ones if no device answers).
    pub fn read(&mut self, port: u16, data: &mut [u8]) {
        match self.find(port, data.len()) {
            Some((e, off)) => e.dev.read(off, data),
            None => data.fill(0xff),
        }
    }

    /// A guest `out`.
    pub fn write(&mut self, port: u16, data: &[u8]) -> Option<BusAction> {
        let (e, off) = self.find(port, data.len())?;
        e.dev.write(off, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(u8);
    impl PioDevice for Echo {
        fn read(&mut self, offset: u16, data: &mut [u8]) {
            data.fill(self.0 + offset as u8);
        }
        fn write(&mut self, _offset: u16, data: &[u8]) -> Option<BusAction> {
            self.0 = data[0];
            (data[0] == 0xee).then_some(BusAction::Exit(1))
        }
    }

    #[test]
    fn dispatches_by_range() {
        let mut bus = PioBus::new();
        bus.insert(0x10, 4, Box::new(Echo(5))).unwrap();
        assert_eq!(bus.insert(0x12, 4, Box::new(Echo(0))), Err(Overlap));
        assert_eq!(bus.insert(0x20, 0, Box::new(Echo(0))), Err(Overlap));
        let mut b = [0u8; 1];
        bus.read(0x11, &mut b);
        assert_eq!(b, [6]);
        assert_eq!(bus.write(0x10, &[0xee]), Some(BusAction::Exit(1)));
    }

    #[test]
    fn unknown_ports_and_straddling_accesses_are_harmless() {
        let mut bus = PioBus::new();
        bus.insert(0x10, 4, Box::new(Echo(5))).unwrap();
        let mut w = [0u8; 4];
        bus.read(0x99, &mut w);
        assert_eq!(w, [0xff; 4]);
        bus.read(0x12, &mut w); // runs past the device's end
        assert_eq!(w, [0xff; 4]);
        assert_eq!(bus.write(0xffff, &[1, 2, 3, 4]), None);
        assert_eq!(bus.write(0x13, &[1, 2]), None);
    }
}
