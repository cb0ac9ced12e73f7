//! Trap dispatch: timer interrupts, and exceptions reported with their full
//! state. A fault in user code goes to the environment's handler (or ends
//! the environment); a fault in the kernel stops the machine.

use crate::arch::idt::exception_name;
use crate::arch::lapic;
use crate::arch::trap_frame::TrapFrame;
use crate::env::KERNEL;
use crate::{console, kprintln, machine};
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
            // In the kernel (the idle loop) only the count matters.
            if f.in_user_mode() {
                KERNEL.lock().tick(f);
            }
        }
        v if v == lapic::NET_VECTOR as u64 => {
            lapic::eoi();
            // From user mode, deliver now; the idle loop (kernel mode)
            // demultiplexes itself once `hlt` returns.
            if f.in_user_mode() {
                crate::dpf::poll(&mut KERNEL.lock());
            }
        }
        v if v == lapic::SPURIOUS_VECTOR as u64 => {}
        0..=31 if f.in_user_mode() => {
            let cr2 = Cr2::read_raw();
            KERNEL.lock().fault(f, cr2);
        }
        0..=31 => kernel_fault(f),
        v => {
            kprintln!("exo: unexpected interrupt vector {v}");
            lapic::eoi();
        }
    }
}

/// Prints a trap's state.
pub fn report(f: &TrapFrame, who: &str) {
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

fn kernel_fault(f: &TrapFrame) -> ! {
    console::force_unlock();
    report(f, "KERNEL");
    if crate::in_stack_guard(Cr2::read_raw()) {
        kprintln!("exo: kernel stack overflow: the fault hit the guard page below a kernel stack");
    }
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
