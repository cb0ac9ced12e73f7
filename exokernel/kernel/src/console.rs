//! The serial console (COM1): kernel messages and the console system calls.

use core::fmt::{self, Write};
use exo_abi::boot::COM1_PORT;
use spin::Mutex;
use uart_16550::SerialPort;

// SAFETY: COM1 is the standard PC serial port; nothing else drives it.
static COM1: Mutex<SerialPort> = Mutex::new(unsafe { SerialPort::new(COM1_PORT) });

pub fn init() {
    COM1.lock().init();
}

/// Writes bytes, turning `\n` into `\r\n` for terminals in raw mode.
pub fn write_bytes(bytes: &[u8]) {
    let mut port = COM1.lock();
    for &b in bytes {
        if b == b'\n' {
            port.send_raw(b'\r');
        }
        port.send_raw(b);
    }
}

/// Reads one byte of console input if one is waiting.
pub fn try_read() -> Option<u8> {
    COM1.lock().try_receive().ok()
}

/// Makes the console usable from a fault or panic that interrupted a writer.
pub fn force_unlock() {
    // SAFETY: only called on the way to stopping the machine, when the
    // interrupted writer will never resume.
    unsafe { COM1.force_unlock() }
}

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = Console.write_fmt(args);
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! kprintln {
    () => ($crate::kprint!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
