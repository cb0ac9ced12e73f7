//! System-call dispatch. Arguments come from the trap frame per the ABI in
//! `exo_abi::syscall`; every pointer is checked against the caller's page
//! tables before use.

use crate::arch::trap_frame::TrapFrame;
use crate::mem::user;
use crate::{console, program_exit, traps};
use core::sync::atomic::Ordering;
use exo_abi::boot::USER_TOP;
use exo_abi::syscall::{self as nr, Error};

/// Most bytes one console call moves; callers loop on the returned count.
const CONSOLE_CHUNK: usize = 4096;

#[no_mangle]
extern "C" fn syscall_dispatch(f: &mut TrapFrame) -> bool {
    let r = match f.rax {
        nr::CONSOLE_WRITE => console_write(f.rdi, f.rsi),
        nr::EXIT => program_exit(f.rdi as u8),
        nr::TICKS => Ok(traps::TICKS.load(Ordering::Relaxed)),
        nr::CONSOLE_READ => console_read(f.rdi, f.rsi),
        _ => Err(Error::NoSys),
    };
    f.rax = match r {
        Ok(v) => v,
        Err(e) => (-(e as i64)) as u64,
    };
    // `sysret` only to a canonical user address (a non-canonical RCX would
    // fault in ring 0 on some CPUs); anything else returns through `iretq`.
    f.rip < USER_TOP
}

fn console_write(ptr: u64, len: u64) -> Result<u64, Error> {
    let n = (len as usize).min(CONSOLE_CHUNK);
    let mut buf = [0u8; 256];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(buf.len());
        user::copy_in(ptr + done as u64, &mut buf[..k]).map_err(|_| Error::Fault)?;
        console::write_bytes(&buf[..k]);
        done += k;
    }
    Ok(n as u64)
}

fn console_read(ptr: u64, len: u64) -> Result<u64, Error> {
    let mut buf = [0u8; 256];
    let want = (len as usize).min(buf.len());
    // Check the destination before consuming input, so no byte is lost.
    user::copy_out(ptr, &buf[..want]).map_err(|_| Error::Fault)?;
    let mut n = 0;
    while n < want {
        let Some(b) = console::try_read() else { break };
        buf[n] = b;
        n += 1;
    }
    user::copy_out(ptr, &buf[..n]).map_err(|_| Error::Fault)?;
    Ok(n as u64)
}
