//! x86-64 (ring-0) architecture support: boot entry, descriptor tables, traps,
//! system-call entry, local APIC timer, each environment's FPU state.

pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod lapic;
pub mod pit;
pub mod syscall;
pub mod trap_frame;
pub mod ustate;

core::arch::global_asm!(include_str!("boot.s"), options(att_syntax));
core::arch::global_asm!(include_str!("trap_entry.s"));
core::arch::global_asm!(include_str!(concat!(env!("OUT_DIR"), "/trap_stubs.s")));
