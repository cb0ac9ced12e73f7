//! Raw exokernel system calls (ABI in `exo_abi::syscall`).

pub use exo_abi::syscall::Error;
use exo_abi::syscall as nr;

/// Issues system call `n` with up to three arguments.
///
/// # Safety
/// Pointer arguments must be valid for the call's purpose; the kernel checks
/// them against the page tables, but a write through a valid pointer still
/// changes this program's memory.
#[inline]
pub unsafe fn syscall3(n: u64, a: u64, b: u64, c: u64) -> i64 {
    let r: i64;
    // SAFETY: `syscall` clobbers rcx and r11 only; the kernel preserves the rest.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as i64 => r,
            in("rdi") a, in("rsi") b, in("rdx") c,
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    r
}

fn result(r: i64) -> Result<u64, Error> {
    if r >= 0 {
        Ok(r as u64)
    } else {
        Err(Error::from_result(r).unwrap_or(Error::Invalid))
    }
}

/// Writes some of `bytes` to the console; returns how many were written.
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    // SAFETY: the kernel only reads the slice.
    result(unsafe { syscall3(nr::CONSOLE_WRITE, bytes.as_ptr() as u64, bytes.len() as u64, 0) }).map(|n| n as usize)
}

/// Reads waiting console input into `buf`; returns how many bytes (0 if none).
pub fn console_read(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    result(unsafe { syscall3(nr::CONSOLE_READ, buf.as_mut_ptr() as u64, buf.len() as u64, 0) }).map(|n| n as usize)
}

/// Timer interrupts since boot.
pub fn ticks() -> u64 {
    // SAFETY: no pointer arguments.
    unsafe { syscall3(nr::TICKS, 0, 0, 0) as u64 }
}

/// Ends this program with `status`.
pub fn exit(status: u8) -> ! {
    // SAFETY: no pointer arguments; the call does not return.
    unsafe { syscall3(nr::EXIT, status as u64, 0, 0) };
    unreachable!("exit returned")
}
