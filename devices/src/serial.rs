//! COM1: a 16550 UART (vm-superio) whose output goes to a writer (the
//! terminal) and whose input the VMM feeds from the terminal. Its interrupt
//! is an EventFd the VMM hands to KVM as an irqfd.

use crate::pio::{BusAction, PioDevice};
use std::io::Write;
use std::sync::{Arc, Mutex};
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

/// The serial's interrupt line.
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// A UART shared between the vCPU (port I/O) and the input thread.
pub type SharedSerial =
    Arc<Mutex<Serial<IrqTrigger, vm_superio::serial::NoEvents, Box<dyn Write + Send>>>>;

/// Creates the UART writing to `out`, interrupting through `irq`.
pub fn new_serial(irq: EventFd, out: Box<dyn Write + Send>) -> SharedSerial {
    Arc::new(Mutex::new(Serial::new(IrqTrigger(irq), out)))
}

/// Feeds host input to the guest; returns how many bytes the UART took
/// (its FIFO may be full: the caller retries the rest later).
pub fn feed(serial: &SharedSerial, input: &[u8]) -> usize {
    let mut s = serial.lock().unwrap_or_else(|e| e.into_inner());
    let room = s.fifo_capacity();
    let n = room.min(input.len());
    if n == 0 {
        return 0;
    }
    s.enqueue_raw_bytes(&input[..n]).unwrap_or(0)
}

/// The UART as a port-I/O device.
pub struct SerialPort(pub SharedSerial);

impl PioDevice for SerialPort {
    fn read(&mut self, offset: u16, data: &mut [u8]) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match (data.len(), u8::try_from(offset)) {
            (1, Ok(off)) => data[0] = s.read(off),
            _ => data.fill(0xff),
        }
    }

    fn write(&mut self, offset: u16, data: &[u8]) -> Option<BusAction> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let ([b], Ok(off)) = (data, u8::try_from(offset)) {
            // A failed interrupt or write to the terminal loses output but
            // must not stop the guest.
            let _ = s.write(off, *b);
            let _ = s.writer_mut().flush();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn port() -> (SerialPort, Sink, EventFd) {
        let sink = Sink::default();
        let evt = EventFd::new(libc_nonblock()).unwrap();
        let s = new_serial(evt.try_clone().unwrap(), Box::new(sink.clone()));
        (SerialPort(s), sink, evt)
    }

    fn libc_nonblock() -> i32 {
        0o4000 // EFD_NONBLOCK
    }

    #[test]
    fn transmit_reaches_the_writer() {
        let (mut p, sink, _) = port();
        for b in b"hi\n" {
            p.write(0, &[*b]);
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"hi\n");
        let mut lsr = [0u8];
        p.read(5, &mut lsr);
        assert_ne!(lsr[0] & 0x20, 0, "transmitter empty");
    }

    #[test]
    fn input_is_readable_and_interrupts() {
        let (mut p, _, evt) = port();
        p.write(1, &[0x01]); // IER: receive interrupt on
        assert_eq!(feed(&p.0, b"ok"), 2);
        assert_eq!(evt.read().unwrap(), 1, "receive interrupt raised");
        let mut lsr = [0u8];
        p.read(5, &mut lsr);
        assert_ne!(lsr[0] & 0x01, 0, "data ready");
        let (mut a, mut b) = ([0u8], [0u8]);
        p.read(0, &mut a);
        p.read(0, &mut b);
        assert_eq!((a[0], b[0]), (b'o', b'k'));
    }

    #[test]
    fn odd_accesses_are_harmless() {
        let (mut p, sink, _) = port();
        let mut w = [0u8; 4];
        p.read(0, &mut w);
        assert_eq!(w, [0xff; 4]);
        p.write(0, &[1, 2]);
        p.write(300, &[1]);
        assert!(sink.0.lock().unwrap().is_empty());
        let big = vec![b'x'; 10_000];
        assert!(feed(&p.0, &big) <= 64, "the FIFO bounds what is taken");
    }
}
