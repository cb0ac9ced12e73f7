//! The serial console (COM1): kernel messages and the console system calls.

use crate::mem::user;
use crate::syscalls::{val, Cx, SysResult};
use core::fmt::{self, Write};
use exo_abi::boot::COM1_PORT;
use exo_abi::syscall::{args, Error};
use spin::Mutex;
use uart_16550::SerialPort;

// SAFETY: COM1 is the standard PC serial port; nothing else drives it.
static COM1: Mutex<SerialPort> = Mutex::new(unsafe { SerialPort::new(COM1_PORT) });

/// Programs the UART as `uart_16550`'s `init` does (38400 baud, 8N1,
/// DTR/RTS/OUT2, receive interrupt), except that it leaves the FIFO control
/// register alone: enabling the FIFO clears it on a 16550, and with it the
/// input typed or piped before the kernel booted.
#[inline(never)] // a call of its own, where debuggers expect kernel_main's first line
pub fn init() {
    let _port = COM1.lock();
    for (offset, value) in [
        (1, 0x00),
        (3, 0x80),
        (0, 0x03),
        (1, 0x00),
        (3, 0x03),
        (4, 0x0b),
        (1, 0x01),
    ] {
        // SAFETY: COM1's own registers (the port lock is held); these writes
        // only configure the UART.
        unsafe { x86_64::instructions::port::Port::<u8>::new(COM1_PORT + offset).write(value) };
    }
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

/// Console input taken from the UART (at each timer tick and by
/// `console_read`) and kept until a program reads it, so that Ctrl-C is
/// counted as it arrives even when no one reads.
struct Input {
    buf: [u8; INPUT_BYTES],
    head: usize,
    len: usize,
}

const INPUT_BYTES: usize = 4096;
const CTRL_C: u8 = 0x03;

static INPUT: Mutex<Input> = Mutex::new(Input {
    buf: [0; INPUT_BYTES],
    head: 0,
    len: 0,
});

/// Moves what the UART holds into the input buffer while it has room;
/// returns how many Ctrl-C bytes came.
pub fn poll_input() -> u64 {
    let (Some(mut port), Some(mut input)) = (COM1.try_lock(), INPUT.try_lock()) else {
        return 0; // the tick interrupted a reader: it drains the UART itself
    };
    let mut interrupts = 0;
    while input.len < INPUT_BYTES {
        let Ok(b) = port.try_receive() else { break };
        let at = (input.head + input.len) % INPUT_BYTES;
        input.buf[at] = b;
        input.len += 1;
        interrupts += (b == CTRL_C) as u64;
    }
    interrupts
}

/// Reads one byte of console input if one is waiting (Ctrl-C bytes in
/// `interrupts`).
fn try_read(interrupts: &mut u64) -> Option<u8> {
    *interrupts += poll_input();
    let mut input = INPUT.lock();
    if input.len == 0 {
        return None;
    }
    let b = input.buf[input.head];
    input.head = (input.head + 1) % INPUT_BYTES;
    input.len -= 1;
    Some(b)
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

/// Whether informational messages are left out (`exo.quiet=1`).
pub static QUIET: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// An informational kernel message (boot, devices, exits): left out in
/// quiet mode, where the console carries only programs' output and errors.
#[macro_export]
macro_rules! kinfo {
    ($($arg:tt)*) => {
        if !$crate::console::QUIET.load(core::sync::atomic::Ordering::Relaxed) {
            $crate::kprintln!($($arg)*);
        }
    };
}

#[macro_export]
macro_rules! kprintln {
    () => ($crate::kprint!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

/// Most bytes one console call moves; callers loop on the returned count.
const CHUNK: usize = 4096;

/// `console_write`: up to [`CHUNK`] bytes of the caller's buffer.
pub fn sys_write(_: &mut Cx<'_>, a: args::ConsoleWrite) -> SysResult {
    let n = a.buf.len().min(CHUNK);
    let mut buf = [0u8; 256];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(buf.len());
        user::copy_in(a.buf.ptr + done as u64, &mut buf[..k]).map_err(|_| Error::Fault)?;
        write_bytes(&buf[..k]);
        done += k;
    }
    val(n as u64)
}

/// `console_read`: the input waiting now, without blocking.
pub fn sys_read(cx: &mut Cx<'_>, a: args::ConsoleRead) -> SysResult {
    let mut buf = [0u8; 256];
    let want = a.buf.len().min(buf.len());
    // Check the destination before consuming input, so no byte is lost.
    user::copy_out(a.buf.ptr, &buf[..want]).map_err(|_| Error::Fault)?;
    let mut n = 0;
    let mut interrupts = 0;
    while n < want {
        let Some(b) = try_read(&mut interrupts) else {
            break;
        };
        buf[n] = b;
        n += 1;
    }
    cx.k.sys_mut().console_interrupts += interrupts;
    user::copy_out(a.buf.ptr, &buf[..n]).map_err(|_| Error::Fault)?;
    val(n as u64)
}
