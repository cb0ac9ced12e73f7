//! The console as a terminal, when it is one (`SysInfo::console_terminal`,
//! the VMM's input is a user's terminal): termios, window size, the
//! foreground process group, a line discipline in canonical mode (echo,
//! erase, kill, end of file) and Ctrl-C. The kernel only counts the Ctrl-C
//! bytes it receives (`SysInfo::console_interrupts`); each process sees the
//! count move at its next system call or while it waits, and if its group
//! is the foreground one (or none was chosen) it interrupts itself with
//! SIGINT, as the Linux terminal driver would signal the group.
//! When the console is not a terminal (input from a pipe or file) it is
//! not one to programs either: ioctl says ENOTTY and input is passed raw.

use super::nr::*;
use super::user::{input, output};
use crate::process;
use crate::sys;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TIOCGPGRP: u64 = 0x540f;
const TIOCSPGRP: u64 = 0x5410;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;

const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const ICRNL: u32 = 0o400;
const VINTR: usize = 0;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;

/// `struct termios` as the kernel's ioctl has it: four flag words, the
/// line discipline, 19 control characters.
const TERMIOS_BYTES: usize = 36;

/// This process's view of the terminal settings (a forked child starts
/// with its parent's): cooked mode with echo and signals.
static IFLAG: AtomicU32 = AtomicU32::new(ICRNL | 0o2000); // ICRNL | IXON
static OFLAG: AtomicU32 = AtomicU32::new(0o5); // OPOST | ONLCR
static CFLAG: AtomicU32 = AtomicU32::new(0o277); // B38400 | CS8 | CREAD
static LFLAG: AtomicU32 = AtomicU32::new(ISIG | ICANON | ECHO | 0o70 | 0o100000 | 0o1000);
static CC: [AtomicU32; 19] = {
    let defaults = [
        3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0, 0,
    ];
    let mut cc = [const { AtomicU32::new(0) }; 19];
    let mut i = 0;
    while i < 19 {
        cc[i] = AtomicU32::new(defaults[i]);
        i += 1;
    }
    cc
};

/// The process that chose the foreground group (the shell with job
/// control), whose table entry holds it; 0: none chose.
static OWNER: AtomicU32 = AtomicU32::new(0);
/// The Ctrl-C count this process has acted on.
static SEEN: AtomicU64 = AtomicU64::new(u64::MAX);

pub fn is_terminal() -> bool {
    crate::info::sysinfo().console_terminal != 0
}

/// ioctl on a console descriptor.
pub fn ioctl(req: u64, arg: u64) -> i64 {
    if !is_terminal() {
        return -ENOTTY;
    }
    match req {
        TCGETS => {
            let mut t = [0u8; TERMIOS_BYTES];
            for (i, f) in [&IFLAG, &OFLAG, &CFLAG, &LFLAG].iter().enumerate() {
                t[i * 4..i * 4 + 4].copy_from_slice(&f.load(Ordering::Relaxed).to_le_bytes());
            }
            for (i, c) in CC.iter().enumerate() {
                t[17 + i] = c.load(Ordering::Relaxed) as u8;
            }
            put(arg, &t)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let Some(t) = input(arg, TERMIOS_BYTES as u64) else {
                return -EFAULT;
            };
            let w = |i: usize| u32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
            for (i, f) in [&IFLAG, &OFLAG, &CFLAG, &LFLAG].iter().enumerate() {
                f.store(w(i * 4), Ordering::Relaxed);
            }
            for (i, c) in CC.iter().enumerate() {
                c.store(t[17 + i] as u32, Ordering::Relaxed);
            }
            0
        }
        TIOCGWINSZ => put(arg, &[24u16, 80, 0, 0].map(u16::to_le_bytes).concat()),
        TIOCSWINSZ => 0,
        TIOCGPGRP => put(arg, &foreground().unwrap_or_else(own_group).to_le_bytes()),
        TIOCSPGRP => match super::user::word(arg) {
            Some(w) => {
                let Some(e) = process::entry(process::pid()) else {
                    return -ENOTTY;
                };
                e.foreground.store(w as u32, Ordering::Relaxed);
                OWNER.store(process::pid(), Ordering::Relaxed);
                0
            }
            None => -EFAULT,
        },
        _ => -EINVAL,
    }
}

fn put(p: u64, b: &[u8]) -> i64 {
    match output(p, b.len() as u64) {
        Some(o) => {
            o.copy_from_slice(b);
            0
        }
        None => -EFAULT,
    }
}

fn own_group() -> u32 {
    process::entry(process::pid()).map_or(process::pid(), |e| e.pgid.load(Ordering::Relaxed))
}

/// The foreground group, if a process chose one.
fn foreground() -> Option<u32> {
    let owner = OWNER.load(Ordering::Relaxed);
    (owner != 0)
        .then(|| process::entry(owner))
        .flatten()
        .map(|e| e.foreground.load(Ordering::Relaxed))
        .filter(|&g| g != 0)
}

/// Acts on Ctrl-C typed since this process last looked: SIGINT to itself
/// if it is in the foreground. Called at every system call and while
/// waiting.
pub fn check_interrupt() {
    let n = crate::info::sysinfo().console_interrupts;
    let seen = SEEN.swap(n, Ordering::Relaxed);
    if seen == u64::MAX || seen == n || !is_terminal() {
        return; // first look (a new process), or nothing new
    }
    if LFLAG.load(Ordering::Relaxed) & ISIG != 0 && foreground().is_none_or(|g| g == own_group()) {
        super::signal::raise(super::signal::SIGINT);
    }
}

/// Cooked-mode input not yet handed out: the line being edited.
static LINE: crate::cell::Exclusive<alloc::vec::Vec<u8>> =
    crate::cell::Exclusive::new(alloc::vec::Vec::new());

/// A terminal read: raw (as the bytes come, Ctrl-C dropped when it is a
/// signal) or, in canonical mode, a whole line edited and echoed here.
/// `raw_read` waits for at least one byte (EINTR on a signal).
pub fn read(
    out: &mut [u8],
    raw_read: &dyn Fn(&mut [u8]) -> Result<usize, i64>,
) -> Result<usize, i64> {
    let lflag = LFLAG.load(Ordering::Relaxed);
    let intr = CC[VINTR].load(Ordering::Relaxed) as u8;
    if lflag & ICANON == 0 {
        loop {
            let n = raw_read(out)?;
            if lflag & ISIG == 0 {
                return Ok(n);
            }
            let mut k = 0;
            for i in 0..n {
                if out[i] != intr {
                    out[k] = out[i];
                    k += 1;
                }
            }
            check_interrupt();
            if k > 0 {
                return Ok(k);
            }
            if super::signal::interrupted() {
                return Err(-EINTR);
            }
        }
    }
    let echo = lflag & ECHO != 0;
    let (erase, kill, eof) = (
        CC[VERASE].load(Ordering::Relaxed) as u8,
        CC[VKILL].load(Ordering::Relaxed) as u8,
        CC[VEOF].load(Ordering::Relaxed) as u8,
    );
    let show = |b: &[u8]| {
        if echo {
            let _ = sys::console_write(b);
        }
    };
    loop {
        // A finished line (or the end of input) waiting to be handed out.
        let ready = LINE
            .try_with(|l| {
                let end = l.iter().position(|&b| b == b'\n' || b == eof)?;
                let take = (end + 1).min(out.len());
                let n = if l[end] == eof && take == end + 1 {
                    end
                } else {
                    take
                };
                out[..n].copy_from_slice(&l[..n]);
                l.drain(..take);
                Some(n)
            })
            .flatten();
        if let Some(n) = ready {
            return Ok(n);
        }
        let mut buf = [0u8; 64];
        let n = raw_read(&mut buf)?;
        for &b in &buf[..n] {
            let b = if b == b'\r' && IFLAG.load(Ordering::Relaxed) & ICRNL != 0 {
                b'\n'
            } else {
                b
            };
            let _ = LINE.try_with(|l| {
                if b == intr && lflag & ISIG != 0 {
                    l.clear();
                    show(b"^C\n");
                } else if b == erase || b == 8 {
                    if l.pop().is_some() {
                        show(b"\x08 \x08");
                    }
                } else if b == kill {
                    for _ in 0..l.len() {
                        show(b"\x08 \x08");
                    }
                    l.clear();
                } else if b == eof {
                    l.push(b);
                } else {
                    l.push(b);
                    show(&[b]);
                }
            });
        }
        check_interrupt();
        if super::signal::interrupted() {
            return Err(-EINTR);
        }
    }
}
