//! Processes: fork (and vfork, and clone with fork's semantics), execve in
//! this same environment, wait4, and identity. A forked child is an exo
//! environment made by the libOS's copy-on-write fork, with the program's
//! memory (see `mem::regions`) besides the runner's own.

use super::nr::*;
use super::user::{c_string, output, strings};
use super::{io, mem, paths, signal};
use crate::process;
use crate::sys;
use alloc::string::String;
use alloc::vec::Vec;
use exo_abi::trap::UTrapFrame;

const CLONE_VM: u64 = 0x100;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;

/// fork and vfork (`flags` 0), clone: a new process unless the caller asks
/// to share memory (threads, posix_spawn's vfork): those are refused.
pub fn fork(flags: u64, ptid: u64, ctid: u64) -> i64 {
    if flags & (CLONE_VM | CLONE_THREAD | CLONE_SETTLS) != 0 {
        return -ENOSYS;
    }
    let regions = mem::regions();
    match crate::fork::fork_with(&regions) {
        Ok(0) => {
            // The child: the kernel starts it with no FS/GS bases.
            super::restore_bases();
            let me = process::pid() as i64;
            if flags & CLONE_CHILD_SETTID != 0 && ctid != 0 {
                super::user::put(ctid, &(me as u32).to_le_bytes());
            }
            0
        }
        Ok(pid) => {
            if flags & CLONE_PARENT_SETTID != 0 && ptid != 0 {
                super::user::put(ptid, &pid.to_le_bytes());
            }
            pid as i64
        }
        Err(e) => {
            super::calls::note(format_args!("fork: {}", e.name()));
            match e {
                sys::Error::NoMem | sys::Error::Quota => -EAGAIN,
                _ => -ENOMEM,
            }
        }
    }
}

/// The program this process runs now (what `/proc/self/exe` names).
static EXE: crate::cell::Exclusive<String> = crate::cell::Exclusive::new(String::new());

pub fn set_exe(path: &str) {
    let abs = paths::absolute(path);
    let _ = EXE.try_with(|e| *e = abs);
}

/// Replaces the program: loads `path` into this environment and resumes
/// the frame at its entry, with a fresh stack holding `argv` and `envp`.
/// The old program's memory goes only once the new one is known to be a
/// program we can run; until then a failure returns to it.
pub fn execve(f: &mut UTrapFrame, path: u64, argv: u64, envp: u64) -> i64 {
    let (Some(p), Some(argv), Some(envp)) = (c_string(path), strings(argv), strings(envp)) else {
        return -EFAULT;
    };
    let path = if p == "/proc/self/exe" {
        EXE.try_with(|e| e.clone()).unwrap_or_default()
    } else {
        String::from(p)
    };
    let image = match paths::program_bytes(&path) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if let Err(e) = super::load::check(&image) {
        return e;
    }
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    let e: Vec<&str> = envp.iter().map(String::as_str).collect();
    if !super::stack::fits(&a, &e) {
        return -E2BIG;
    }
    // Past the point of no return: the old program goes.
    mem::release_all();
    io::close_on_exec();
    signal::reset_on_exec();
    let started = super::start(&image, &a, &e);
    let (entry, sp) = match started {
        Ok(s) => s,
        // Nothing left to return to.
        Err(_) => super::exit(127),
    };
    set_exe(&path);
    let name = a.first().copied().unwrap_or(&path);
    process::rename(name.rsplit('/').next().unwrap_or(name));
    *f = UTrapFrame {
        rip: entry,
        rsp: sp,
        rflags: 0x202,
        ..UTrapFrame::default()
    };
    0
}

const WNOHANG: u64 = 1;

/// wait4(pid, status, options, rusage): any child (pid -1 or 0: this
/// libOS has no process groups yet) or one.
pub fn wait4(pid: i64, status: u64, options: u64, rusage: u64) -> i64 {
    if status != 0 && output(status, 4).is_none() || rusage != 0 && output(rusage, 144).is_none() {
        return -EFAULT;
    }
    let block = options & WNOHANG == 0;
    let got = if pid > 0 {
        if !process::children().any(|c| c == pid as u32) {
            return -ECHILD;
        }
        if !block && !process::has_ended(pid as u32) {
            return 0;
        }
        Some((pid as u32, process::wait_status(pid as u32)))
    } else {
        // A signal (Ctrl-C) ends the wait.
        match process::wait_any_unless(block, &signal::interrupted) {
            Ok(None) if block => return -EINTR,
            Ok(got) => got,
            Err(_) => return -ECHILD,
        }
    };
    let Some((child, code)) = got else {
        return 0;
    };
    signal::child_reaped(child);
    if status != 0 {
        super::user::put(status, &signal::wait_status(code).to_le_bytes());
    }
    if rusage != 0 {
        super::user::put(rusage, &[0; 144]);
    }
    child as i64
}

pub fn getppid() -> i64 {
    process::pinfo().ppid as i64
}

pub fn kill(pid: i64, sig: u64) -> i64 {
    if sig >= 65 {
        return -EINVAL;
    }
    let me = process::pid();
    if pid <= 0 {
        // A group: ours (0), one named (-pgid), or everyone we may (-1).
        let members = match pid {
            0 => group_members(getpgid(0) as u32),
            -1 => process::entries()
                .map(|e| e.pid.load(core::sync::atomic::Ordering::Relaxed))
                .filter(|&p| p != me)
                .collect(),
            p => group_members(-p as u32),
        };
        if members.is_empty() {
            return -ESRCH;
        }
        // Others first: a signal to ourselves may end us.
        let mut r = 0;
        for m in members.iter().filter(|&&m| m != me) {
            r = kill(*m as i64, sig);
        }
        if members.contains(&me) {
            r = kill(me as i64, sig);
        }
        return r;
    }
    let target = pid;
    if target as u32 == me {
        return signal::raise(sig as u32);
    }
    if sig == 0 {
        return if process::entry(target as u32).is_some() {
            0
        } else {
            -ESRCH
        };
    }
    match crate::signal::kill(target as u32, sig as u32) {
        Ok(()) => 0,
        Err(sys::Error::Denied) => -EPERM,
        Err(_) => -ESRCH,
    }
}

pub fn exit(code: u64) -> ! {
    super::exit(code as u8)
}

/// The process table entry of `pid` (0: this process).
fn entry_of(pid: i64) -> Option<&'static process::ProcEntry> {
    let pid = if pid == 0 { process::pid() } else { pid as u32 };
    process::entry(pid)
}

/// setpgid(pid, pgid): this process or a child of it (whose entry we may
/// write) joins group `pgid` (0: its own pid).
pub fn setpgid(pid: i64, pgid: i64) -> i64 {
    if pid < 0 || pgid < 0 {
        return -EINVAL;
    }
    let target = if pid == 0 { process::pid() } else { pid as u32 };
    if target != process::pid() && !process::children().any(|c| c == target) {
        return -ESRCH;
    }
    let Some(e) = process::entry(target) else {
        return -ESRCH;
    };
    let group = if pgid == 0 { target } else { pgid as u32 };
    process::set_group(e, group).map_or(-EPERM, |()| 0)
}

pub fn getpgid(pid: i64) -> i64 {
    entry_of(pid).map_or(-ESRCH, |e| {
        e.pgid.load(core::sync::atomic::Ordering::Relaxed) as i64
    })
}

/// setsid: a group of its own (sessions are not kept apart).
pub fn setsid() -> i64 {
    match setpgid(0, 0) {
        0 => process::pid() as i64,
        e => e,
    }
}

/// The pids of every process in group `pgid` that may be read.
pub fn group_members(pgid: u32) -> Vec<u32> {
    process::entries()
        .filter(|e| e.pgid.load(core::sync::atomic::Ordering::Relaxed) == pgid)
        .map(|e| e.pid.load(core::sync::atomic::Ordering::Relaxed))
        .collect()
}
