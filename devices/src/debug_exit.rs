//! The debug-exit port: a byte written here ends the VM and becomes the exit
//! status of `exo run` (the same port as QEMU's `isa-debug-exit`).

use crate::pio::{BusAction, PioDevice};

#[derive(Default)]
pub struct DebugExit;

impl PioDevice for DebugExit {
    fn read(&mut self, _offset: u16, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u16, data: &[u8]) -> Option<BusAction> {
        data.first().map(|&b| BusAction::Exit(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_becomes_the_exit_status() {
        let mut d = DebugExit;
        assert_eq!(d.write(0, &[42]), Some(BusAction::Exit(42)));
        assert_eq!(d.write(0, &[0x7f, 1, 2, 3]), Some(BusAction::Exit(0x7f)));
        assert_eq!(d.write(0, &[]), None);
        let mut b = [9u8; 2];
        d.read(0, &mut b);
        assert_eq!(b, [0, 0]);
    }
}
