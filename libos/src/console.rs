//! Console output for programs: `print!`/`println!` over the console call.

use core::fmt::{self, Write};

/// The console as a `fmt::Write`.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            let n = crate::sys::console_write(rest).map_err(|_| fmt::Error)?;
            rest = &rest[n..];
        }
        Ok(())
    }
}

/// Collects formatted text so one line goes out in one call (another
/// environment's output cannot land in the middle of it).
struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                Console.write_str(core::str::from_utf8(&self.buf).unwrap_or(""))?;
                self.len = 0;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let mut line = LineBuf {
        buf: [0; 512],
        len: 0,
    };
    let _ = line.write_fmt(args);
    let out = &line.buf[..line.len];
    // Standard output is descriptor 1 (a pipe in a pipeline) once the
    // process exists; before that, and if it is closed, the console.
    if crate::process::has_pinfo() && crate::fd::write(1, out).is_ok() {
        return;
    }
    let mut rest = out;
    while !rest.is_empty() {
        match crate::sys::console_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(_) => break,
        }
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
