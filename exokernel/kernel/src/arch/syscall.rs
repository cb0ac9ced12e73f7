//! `syscall`/`sysret` set-up. The entry stub lives in trap_entry.s.

use super::gdt::{KERNEL_CS, USER32_CS};
use x86_64::registers::model_specific::Msr;

const MSR_STAR: u32 = 0xC000_0081;
const MSR_LSTAR: u32 = 0xC000_0082;
const MSR_SFMASK: u32 = 0xC000_0084;

/// RFLAGS bits cleared on entry: IF (the kernel runs with interrupts off),
/// TF, DF, AC, NT.
const SFMASK: u64 = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);

/// Scratch for the user RSP and the kernel stack the entry stub switches to
/// (one CPU, so plain statics suffice).
#[no_mangle]
static mut SYSCALL_USER_RSP: u64 = 0;
#[no_mangle]
static mut SYSCALL_KERNEL_RSP: u64 = 0;

extern "C" {
    fn syscall_entry();
}

/// Programs STAR/LSTAR/SFMASK. `sysret` derives the user selectors from
/// USER32_CS: SS = 0x2b, CS = 0x33, hence the Linux GDT layout.
pub fn init(kernel_stack_top: u64) {
    // SAFETY: called once at boot; the MSRs are architectural and EFER.SCE is
    // set by cpu::init.
    unsafe {
        SYSCALL_KERNEL_RSP = kernel_stack_top;
        Msr::new(MSR_STAR).write(((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32));
        Msr::new(MSR_LSTAR).write(syscall_entry as *const () as u64);
        Msr::new(MSR_SFMASK).write(SFMASK);
    }
}
