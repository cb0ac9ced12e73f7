//! CPU feature discovery and control registers. The guest CPU is a baseline
//! x86-64: anything beyond it is checked in CPUID before use.

use core::arch::x86_64::{__cpuid, __cpuid_count};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// Whether the CPU offers the no-execute page bit.
pub fn has_nx() -> bool {
    let max_ext = __cpuid(0x8000_0000).eax;
    max_ext >= 0x8000_0001 && __cpuid(0x8000_0001).edx & (1 << 20) != 0
}

/// Whether the CPU offers supervisor-mode execution / access prevention
/// (CPUID leaf 7: SMEP, SMAP).
fn has_smep_smap() -> (bool, bool) {
    if __cpuid(0).eax < 7 {
        return (false, false);
    }
    let b = __cpuid_count(7, 0).ebx;
    (b & (1 << 7) != 0, b & (1 << 20) != 0)
}

/// Whether the CPU offers global pages.
fn has_pge() -> bool {
    __cpuid(1).edx & (1 << 13) != 0
}

/// Enables the protection features the kernel relies on: write protection in
/// ring 0, NX, SMEP and SMAP where offered (the kernel never executes user
/// pages, and reaches user memory only through its own mapping of RAM, after
/// checking the user's page tables: see `mem::user`), global pages where
/// offered, SSE for Rust code.
pub fn init() {
    let (smep, smap) = has_smep_smap();
    // SAFETY: these bits only tighten protection or enable baseline features
    // that every x86-64 CPU has (SSE, FXSR).
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::WRITE_PROTECT | Cr0Flags::MONITOR_COPROCESSOR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR);
        });
        Cr4::update(|f| {
            f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
            if has_pge() {
                f.insert(Cr4Flags::PAGE_GLOBAL);
            }
            if smep {
                f.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
            }
            if smap {
                f.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
            }
        });
        Efer::update(|f| {
            f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS);
            if has_nx() {
                f.insert(EferFlags::NO_EXECUTE_ENABLE);
            }
        });
    }
}

/// The TSC and LAPIC timer frequencies in kHz as the platform states them
/// (each None if it does not): the hypervisor timing leaf 0x4000_0010 that
/// our VMM fills (VMware's convention), or on hardware the TSC/crystal
/// leaf 0x15.
pub fn stated_khz() -> (Option<u64>, Option<u64>) {
    let hypervisor = __cpuid(1).ecx & (1 << 31) != 0;
    if hypervisor && __cpuid(0x4000_0000).eax >= 0x4000_0010 {
        let t = __cpuid(0x4000_0010);
        let some = |v: u32| (v != 0).then_some(v as u64);
        return (some(t.eax), some(t.ebx));
    }
    if __cpuid(0).eax >= 0x15 {
        let l = __cpuid(0x15);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return (
                Some(l.ecx as u64 * l.ebx as u64 / l.eax as u64 / 1000),
                None,
            );
        }
    }
    (None, None)
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The protections `init` turned on, for the boot message.
pub fn protections() -> &'static str {
    match has_smep_smap() {
        (true, true) => "SMEP and SMAP",
        (true, false) => "SMEP",
        (false, true) => "SMAP",
        (false, false) => "no SMEP/SMAP",
    }
}
