//! The host side of the serial console: the terminal in raw mode while the
//! guest runs (restored on every way out), and a thread feeding keystrokes
//! to the UART. Ctrl-A then x ends the VM from the keyboard.

use exo_devices::serial::{feed, SharedSerial};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vmm_sys_util::terminal::Terminal;

static RAW: AtomicBool = AtomicBool::new(false);

/// Puts the terminal in raw mode if stdin is one.
pub fn enter_raw() {
    let stdin = std::io::stdin();
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } == 1 && stdin.lock().set_raw_mode().is_ok() {
        RAW.store(true, Ordering::SeqCst);
        eprintln!("exo: console attached (Ctrl-A x quits)\r");
    }
}

/// Restores the terminal if we changed it.
pub fn restore() {
    if RAW.swap(false, Ordering::SeqCst) {
        let _ = std::io::stdin().lock().set_canon_mode();
    }
}

/// Status `exo run` exits with when the user quits with Ctrl-A x.
pub const QUIT_STATUS: i32 = 130;

/// Starts the thread that copies stdin to the guest's UART until EOF.
pub fn spawn_input(serial: SharedSerial) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut ctrl_a = false;
        let mut stdin = std::io::stdin();
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut rest: &[u8] = &buf[..n];
            if RAW.load(Ordering::Relaxed) {
                for &b in rest {
                    if ctrl_a && b == b'x' {
                        restore();
                        eprintln!("\nexo: quit from the console");
                        std::process::exit(QUIT_STATUS);
                    }
                    ctrl_a = b == 1;
                }
            }
            while !rest.is_empty() {
                let took = feed(&serial, rest);
                rest = &rest[took..];
                if took == 0 {
                    // The UART's FIFO is full: the guest has not read yet.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    });
}
