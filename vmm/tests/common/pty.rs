//! `exo run` at a terminal, as a user has it: standard input, output and
//! error on a pseudo-terminal whose other side the test reads and types on.

use super::Outcome;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A new pseudo-terminal: (our side, the side `exo` gets).
fn openpty() -> std::io::Result<(File, OwnedFd)> {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the integers it is given;
    // the name, termios and window-size arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) })
}

/// Runs `exo ARGS...` on a terminal, typing each line of `input` (ended by
/// a carriage return, as the Enter key sends) after one more `prompt`.
pub fn exo_on_terminal(args: &[&str], prompt: &str, input: &[&str], timeout: Duration) -> Outcome {
    let lines: Vec<Vec<u8>> = input
        .iter()
        .map(|l| [l.as_bytes(), b"\r"].concat())
        .collect();
    let steps: Vec<Step> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (prompt, i + 1, Duration::ZERO, l.as_slice()))
        .collect();
    exo_on_terminal_steps(args, &steps, timeout)
}

/// What to type when: once the output holds the text that many times, and
/// a pause after that (for the guest to start what was typed before),
/// the bytes.
pub type Step<'a> = (&'a str, usize, Duration, &'a [u8]);

/// Runs `exo ARGS...` on a terminal and types as `steps` say.
pub fn exo_on_terminal_steps(args: &[&str], steps: &[Step], timeout: Duration) -> Outcome {
    let (master, slave) = openpty().expect("cannot open a pseudo-terminal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_exo"))
        .args(args)
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("cannot run the exo binary");
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    let mut reader = master.try_clone().expect("dup");
    let collector = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once exo (the last holder of the other side) is gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut typing = master;
    let start = Instant::now();
    for (text, times, pause, bytes) in steps {
        let seen = || {
            String::from_utf8_lossy(&out.lock().unwrap())
                .replace('\r', "")
                .matches(text)
                .count()
        };
        while seen() < *times && start.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(*pause);
        let _ = typing.write_all(bytes);
        let _ = typing.flush();
    }
    let status = super::wait_or_kill(&mut child, start, timeout);
    drop(typing);
    let _ = collector.join();
    let text = String::from_utf8_lossy(&out.lock().unwrap()).replace('\r', "");
    Outcome {
        status,
        // One terminal carries both streams.
        stdout: text,
        stderr: String::new(),
    }
}
