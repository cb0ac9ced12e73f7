//! The guest's console input when it is not a terminal (a pipe, a file,
//! /dev/null): copied as is, and its end delivered as Ctrl-D, which is what
//! a user at a terminal types to end input, so a shell reading it exits.

use std::io::{Read, Write};

/// What the guest receives when input that is not a terminal ends.
pub const END_OF_INPUT: u8 = 4;

/// Whether standard input is a terminal.
pub fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

/// Copies standard input to `to` on a thread of its own, then Ctrl-D; `to`
/// stays open afterwards (its reader may treat a close as a hang-up).
pub fn forward_stdin(mut to: impl Write + Send + 'static) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = to.write_all(&[END_OF_INPUT]).and_then(|()| to.flush());
        // Hold `to` open until the process ends.
        loop {
            std::thread::park();
        }
    });
}
