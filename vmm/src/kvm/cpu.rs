//! The vCPU at the kernel's entry: 32-bit protected mode, paging off, flat
//! segments from the boot GDT, EBX = PVH start info or ESI = Linux zero page; CPUID as KVM supports it;
//! the LAPIC's LINT0/LINT1 wired as on a PC.

use super::boot::{Entry, Protocol, GDT};
use super::layout::BOOT_GDT;
use super::Error;
use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuFd};

fn segment(selector: u16, type_: u8, s: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: 1,
        s,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const DELIVERY_EXTINT: u32 = 7 << 8;
const DELIVERY_NMI: u32 = 4 << 8;

fn set_lapic_reg(regs: &mut [i8; 1024], off: usize, v: u32) {
    for (i, b) in v.to_le_bytes().iter().enumerate() {
        regs[off + i] = *b as i8;
    }
}

/// The hypervisor CPUID range and its timing leaf.
const HV_BASE: u32 = 0x4000_0000;
const HV_TIMING: u32 = 0x4000_0010;
/// KVM's local APIC timer counts at 1 GHz (one tick per nanosecond).
const APIC_BUS_KHZ: u32 = 1_000_000;

/// Puts vCPU 0 in the PVH initial state for `entry`.
pub fn setup(kvm: &Kvm, vcpu: &VcpuFd, entry: Entry) -> Result<(), Error> {
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| Error::Kvm("GET_SUPPORTED_CPUID", e))?;
    for e in cpuid.as_mut_slice() {
        if e.function == 1 {
            e.ebx &= 0x00ff_ffff; // initial APIC id 0
            e.ecx |= 1 << 31; // running under a hypervisor
        }
        if e.function == HV_BASE {
            e.eax = e.eax.max(HV_TIMING);
        }
    }
    // The timing leaf (VMware's convention, which Linux reads too): the TSC
    // and APIC bus frequencies, so the kernel need not measure them against
    // the PIT, a measurement only as good as the host's scheduling.
    if let Ok(tsc_khz) = vcpu.get_tsc_khz() {
        let timing = kvm_bindings::kvm_cpuid_entry2 {
            function: HV_TIMING,
            eax: tsc_khz,
            ebx: APIC_BUS_KHZ,
            ..Default::default()
        };
        cpuid
            .push(timing)
            .map_err(|_| Error::Guest("too many CPUID entries".into()))?;
    }
    vcpu.set_cpuid2(&cpuid)
        .map_err(|e| Error::Kvm("SET_CPUID2", e))?;

    let mut s = vcpu.get_sregs().map_err(|e| Error::Kvm("GET_SREGS", e))?;
    s.cs = segment(0x10, 0xb, 1);
    let data = segment(0x18, 0x3, 1);
    (s.ds, s.es, s.fs, s.gs, s.ss) = (data, data, data, data, data);
    s.tr = kvm_segment {
        limit: 0x67,
        selector: 0x20,
        type_: 0xb,
        s: 0,
        db: 0,
        g: 0,
        ..segment(0x20, 0xb, 0)
    };
    s.gdt.base = BOOT_GDT;
    s.gdt.limit = (GDT.len() * 8 - 1) as u16;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.cr0 = 0x11; // PE | ET
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    vcpu.set_sregs(&s).map_err(|e| Error::Kvm("SET_SREGS", e))?;

    let (rbx, rsi) = match entry.protocol {
        Protocol::Pvh => (entry.start_info, 0),
        Protocol::Linux => (0, entry.start_info),
    };
    let regs = kvm_regs {
        rip: entry.rip,
        rbx,
        rsi,
        rflags: 0x2,
        ..Default::default()
    };
    vcpu.set_regs(&regs)
        .map_err(|e| Error::Kvm("SET_REGS", e))?;
    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(|e| Error::Kvm("SET_FPU", e))?;

    let mut lapic = vcpu.get_lapic().map_err(|e| Error::Kvm("GET_LAPIC", e))?;
    set_lapic_reg(&mut lapic.regs, APIC_LVT0, DELIVERY_EXTINT);
    set_lapic_reg(&mut lapic.regs, APIC_LVT1, DELIVERY_NMI);
    vcpu.set_lapic(&lapic)
        .map_err(|e| Error::Kvm("SET_LAPIC", e))?;
    Ok(())
}
