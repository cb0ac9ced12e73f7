//! The shell: reads lines on the console, runs programs from /bin with
//! arguments and pipelines (`a | b | c`), and has the built-ins `exit`,
//! `kill [-SIG] PID` and `help`. Ctrl-D on an empty line exits.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use libos::fd::{self, Fd, MAX_FDS};
use libos::{pipe, print, println, process, signal};

libos::entry!(main);

const PROMPT: &str = "exo$ ";

/// Reads a line with echo and backspace; None at end of input (Ctrl-D).
fn read_line() -> Option<String> {
    let mut line = String::new();
    let mut b = [0u8; 1];
    loop {
        if fd::read(0, &mut b).ok()? == 0 {
            return None;
        }
        match b[0] {
            b'\r' | b'\n' => {
                println!();
                return Some(line);
            }
            4 if line.is_empty() => return None,
            8 | 127 if line.pop().is_some() => print!("\x08 \x08"),
            c if c.is_ascii_graphic() || c == b' ' => {
                line.push(c as char);
                print!("{}", c as char);
            }
            _ => {}
        }
    }
}

fn kill(args: &[&str]) -> u8 {
    let (sig, pid) = match args {
        [p] => (signal::SIGTERM, *p),
        [s, p] if s.starts_with('-') => (s[1..].parse().unwrap_or(0), *p),
        _ => {
            println!("usage: kill [-SIGNAL] PID");
            return 2;
        }
    };
    let pid = u32::from_str_radix(pid.trim_start_matches("0x"), 16).unwrap_or(0);
    match signal::kill(pid, sig) {
        Ok(()) => 0,
        Err(e) => {
            println!("kill: {pid:#x}: {e:?}");
            1
        }
    }
}

/// Runs one pipeline; returns the last stage's status.
fn run_pipeline(line: &str) -> u8 {
    let stages: Vec<Vec<&str>> = line
        .split('|')
        .map(|s| s.split_whitespace().collect())
        .collect();
    if stages.iter().any(|s| s.is_empty()) {
        println!("sh: empty command in pipeline");
        return 2;
    }
    let mut pids = Vec::new();
    let mut stdin = Fd::CONSOLE;
    for (i, argv) in stages.iter().enumerate() {
        let last = i == stages.len() - 1;
        let (next_in, stdout) = if last {
            (Fd::CLOSED, Fd::CONSOLE)
        } else {
            match pipe::pipe() {
                Ok((r, w)) => (r, w),
                Err(e) => {
                    println!("sh: pipe: {e:?}");
                    break;
                }
            }
        };
        let mut fds = [Fd::CLOSED; MAX_FDS];
        fds[0] = stdin;
        fds[1] = stdout;
        fds[2] = Fd::CONSOLE;
        let path = alloc::format!("/bin/{}", argv[0]);
        match process::spawn(&path, argv, &fds) {
            Ok(pid) => pids.push(pid),
            Err(e) => println!(
                "sh: {}: {}",
                argv[0],
                if e == libos::sys::Error::NoEnv {
                    "command not found"
                } else {
                    "cannot start"
                }
            ),
        }
        // The children hold their ends now; drop ours.
        for f in [stdin, stdout] {
            if f.pipe_va().is_some() {
                if let Ok(fd) = fd::install(f) {
                    fd::close(fd);
                }
            }
        }
        stdin = next_in;
    }
    let mut status = 0;
    for pid in pids {
        status = process::wait(pid);
    }
    status
}

fn main() -> u8 {
    println!("exo shell: programs in /bin (try ls, ps, echo, cat, pipelines like 'ls | cat'); exit or Ctrl-D to leave");
    loop {
        print!("{PROMPT}");
        let Some(line) = read_line() else {
            println!();
            return 0;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["exit"] => return 0,
            ["exit", code] => return code.parse().unwrap_or(1),
            ["help"] => println!("built-ins: exit [N], kill [-SIG] PID, help; programs: ls /bin"),
            ["kill", rest @ ..] => {
                kill(rest);
            }
            _ => {
                let status = run_pipeline(&line);
                if status != 0 {
                    println!("sh: exit status {status}");
                }
            }
        }
    }
}
