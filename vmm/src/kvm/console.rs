//! The host side of the serial console: the terminal in raw mode while the
//! guest runs (restored on every way out), and a thread feeding input to
//! the UART. Ctrl-A then x ends the VM from the keyboard; the end of input
//! that is not a terminal reaches the guest as Ctrl-D, as if typed.
//!
//! Both work on descriptor 0 directly: std's `Stdin` holds a lock while a
//! read blocks, which would keep `restore` from ever running.

use exo_devices::serial::{feed, SharedSerial};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::input::{stdin_is_terminal, END_OF_INPUT};

static RAW: AtomicBool = AtomicBool::new(false);
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Puts the terminal in raw mode if stdin is one.
pub fn enter_raw() {
    if !stdin_is_terminal() {
        return;
    }
    // SAFETY: termios is plain data; tcgetattr fills it for descriptor 0.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid termios for the call to fill.
    if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
        return;
    }
    let saved = t;
    // SAFETY: cfmakeraw edits the termios it is given; tcsetattr reads it.
    let ok = unsafe {
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(0, libc::TCSANOW, &t) == 0
    };
    if ok {
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        RAW.store(true, Ordering::SeqCst);
        eprintln!("exo: console attached (Ctrl-A x quits)\r");
    }
}

/// Restores the terminal if we changed it.
pub fn restore() {
    if RAW.swap(false, Ordering::SeqCst) {
        if let Some(t) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // SAFETY: `t` is the termios tcgetattr gave for descriptor 0.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

/// Status `exo run` exits with when the user quits with Ctrl-A x.
pub const QUIT_STATUS: i32 = 130;

/// Gives all of `bytes` to the UART, waiting while its FIFO is full (the
/// guest has not read yet): no input is lost.
fn feed_all(serial: &SharedSerial, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let took = feed(serial, bytes);
        bytes = &bytes[took..];
        if took == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Starts the thread that copies stdin to the guest's UART.
pub fn spawn_input(serial: SharedSerial) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut ctrl_a = false;
        loop {
            // SAFETY: reads into `buf`, which is valid for its length.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            let n = match n {
                n if n > 0 => n as usize,
                n if n < 0
                    && std::io::Error::last_os_error().kind()
                        == std::io::ErrorKind::Interrupted =>
                {
                    continue
                }
                _ => {
                    // End of input: what Ctrl-D at the console would send.
                    if !RAW.load(Ordering::Relaxed) {
                        feed_all(&serial, &[END_OF_INPUT]);
                    }
                    return;
                }
            };
            if RAW.load(Ordering::Relaxed) {
                for &b in &buf[..n] {
                    if ctrl_a && b == b'x' {
                        restore();
                        eprintln!("\nexo: quit from the console");
                        std::process::exit(QUIT_STATUS);
                    }
                    ctrl_a = b == 1;
                }
            }
            feed_all(&serial, &buf[..n]);
        }
    });
}
