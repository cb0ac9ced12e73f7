//! Trap dispatch: timer interrupts, and exceptions reported with their full
//! state. A fault in the user program ends the program (and, while there is
//! only one, the machine); a fault in the kernel stops the machine.

use crate::arch::idt::exception_name;
use crate::arch::lapic;
use crate::arch::trap_frame::TrapFrame;
use crate::{console, kprintln, machine, program_exit};
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::boot::exit;
use x86_64::registers::control::Cr2;

/// Timer interrupts since boot.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

#[no_mangle]
extern "C" fn trap_dispatch(f: &mut TrapFrame) {
    match f.vector {
        v if v == lapic::TIMER_VECTOR as u64 => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            lapic::eoi();
        }
        v if v == lapic::SPURIOUS_VECTOR as u64 => {}
        0..=31 => exception(f),
        v => {
            kprintln!("exo: unexpected interrupt vector {v}");
            lapic::eoi();
        }
    }
}

fn report(f: &TrapFrame, who: &str) {
    let cr2 = Cr2::read_raw();
    kprintln!(
        "exo: {who} exception {} (vector {}) rip={:#x} err={:#x} cr2={:#x} rsp={:#x}",
        exception_name(f.vector),
        f.vector,
        f.rip,
        f.error_code,
        cr2,
        f.rsp
    );
}

fn exception(f: &mut TrapFrame) {
    if f.in_user_mode() {
        report(f, "user");
        program_exit(exit::FAULT_BASE + f.vector as u8);
    }
    console::force_unlock();
    report(f, "KERNEL");
    kprintln!(
        "exo: rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x}",
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        f.rbp
    );
    machine::exit(exit::KERNEL_PANIC);
}
