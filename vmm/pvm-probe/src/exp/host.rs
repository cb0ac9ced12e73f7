//! What the host's KVM reports: module parameters, CPUID, MSR lists, caps.

use crate::layout::*;
use crate::run::cpuid_str;
use crate::vm::kvm_err;
use crate::Res;
use kvm_bindings::{kvm_msr_entry, Msrs, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, Kvm};
use std::fmt::Write as _;

pub fn exp_host(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== host: module parameters\n");
    let dir = std::path::Path::new("/sys/module/kvm_pvm/parameters");
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                let v = std::fs::read_to_string(&p).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {} = {}",
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    v.trim()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(out, "    {}: {e}", dir.display());
        }
    }
    let _ = writeln!(out, "== host: KVM API version {}", kvm.get_api_version());

    out.push_str("== host: KVM_GET_SUPPORTED_CPUID, hypervisor leaves and leaf 1/7\n");
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("GET_SUPPORTED_CPUID"))?;
    for e in cpuid.as_slice() {
        if e.function >= 0x4000_0000 && e.function < 0x5000_0000
            || e.function == 1
            || e.function == 7
        {
            let _ = writeln!(
                out,
                "    leaf {:#010x}.{} eax={:#010x} ebx={:#010x} ecx={:#010x} edx={:#010x} {}",
                e.function,
                e.index,
                e.eax,
                e.ebx,
                e.ecx,
                e.edx,
                if e.function >= 0x4000_0000 {
                    cpuid_str(&[e.ebx as u64, e.ecx as u64, e.edx as u64])
                } else {
                    String::new()
                }
            );
        }
    }
    out.push_str("== host: KVM_GET_EMULATED_CPUID hypervisor leaves\n");
    match kvm.get_emulated_cpuid(KVM_MAX_CPUID_ENTRIES) {
        Ok(c) => {
            for e in c.as_slice() {
                if e.function >= 0x4000_0000 && e.function < 0x5000_0000 {
                    let _ = writeln!(out, "    leaf {:#010x} {:?}", e.function, e);
                }
            }
            let _ = writeln!(out, "    ({} entries)", c.as_slice().len());
        }
        Err(e) => {
            let _ = writeln!(out, "    error {e}");
        }
    }

    out.push_str("== host: KVM_GET_MSR_INDEX_LIST (0x4b564dxx and all non-architectural)\n");
    match kvm.get_msr_index_list() {
        Ok(l) => {
            let all = l.as_slice();
            let kvmish: Vec<String> = all
                .iter()
                .filter(|m| **m >> 8 == 0x004b_564d)
                .map(|m| format!("{m:#x}"))
                .collect();
            let _ = writeln!(out, "    {} MSRs; 0x4b564dxx: {:?}", all.len(), kvmish);
            let list: Vec<String> = all.iter().map(|m| format!("{m:x}")).collect();
            let _ = writeln!(out, "    all: {}", list.join(" "));
        }
        Err(e) => {
            let _ = writeln!(out, "    error {e}");
        }
    }
    out.push_str("== host: KVM_GET_MSR_FEATURE_INDEX_LIST\n");
    match kvm.get_msr_feature_index_list() {
        Ok(l) => {
            let list: Vec<String> = l.as_slice().iter().map(|m| format!("{m:x}")).collect();
            let _ = writeln!(out, "    {} MSRs: {}", list.len(), list.join(" "));
            let mut msrs = Msrs::from_entries(
                &l.as_slice()
                    .iter()
                    .map(|&index| kvm_msr_entry {
                        index,
                        ..Default::default()
                    })
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| format!("{e:?}"))?;
            match kvm.get_msrs(&mut msrs) {
                Ok(n) => {
                    for m in &msrs.as_slice()[..n] {
                        let _ = writeln!(out, "    feature MSR {:#x} = {:#x}", m.index, m.data);
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "    system KVM_GET_MSRS error {e}");
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "    error {e}");
        }
    }
    out.push_str("== host: system-scope KVM_GET_MSRS of the PVM MSRs (feature-MSR path)\n");
    for (index, name) in PVM_MSRS_V1.iter().chain(PVM_MSRS_V2.iter()) {
        let mut m = Msrs::from_entries(&[kvm_msr_entry {
            index: *index,
            ..Default::default()
        }])
        .map_err(|e| format!("{e:?}"))?;
        let r = kvm.get_msrs(&mut m);
        let _ = writeln!(out, "    {index:#x} {name}: {r:?}");
    }

    out.push_str("== host: KVM_CHECK_EXTENSION\n");
    let caps: [(&str, Cap); 24] = [
        ("IRQCHIP", Cap::Irqchip),
        ("HLT", Cap::Hlt),
        ("USER_MEMORY", Cap::UserMemory),
        ("SET_TSS_ADDR", Cap::SetTssAddr),
        ("EXT_CPUID", Cap::ExtCpuid),
        ("CLOCKSOURCE", Cap::Clocksource),
        ("NR_VCPUS", Cap::NrVcpus),
        ("MAX_VCPUS", Cap::MaxVcpus),
        ("PIT2", Cap::Pit2),
        ("IRQFD", Cap::Irqfd),
        ("IOEVENTFD", Cap::Ioeventfd),
        ("SET_GUEST_DEBUG", Cap::SetGuestDebug),
        ("VCPU_EVENTS", Cap::VcpuEvents),
        ("XSAVE", Cap::Xsave),
        ("XCRS", Cap::Xcrs),
        ("TSC_CONTROL", Cap::TscControl),
        ("GET_TSC_KHZ", Cap::GetTscKhz),
        ("TSC_DEADLINE_TIMER", Cap::TscDeadlineTimer),
        ("IMMEDIATE_EXIT", Cap::ImmediateExit),
        ("SPLIT_IRQCHIP", Cap::SplitIrqchip),
        ("X86_USER_SPACE_MSR", Cap::X86UserSpaceMsr),
        ("X86_MSR_FILTER", Cap::X86MsrFilter),
        ("EXIT_HYPERCALL", Cap::ExitHypercall),
        ("X2APIC_API", Cap::X2ApicApi),
    ];
    let mut line = String::from("   ");
    for (name, c) in caps {
        let _ = write!(line, " {name}={}", kvm.check_extension_int(c));
    }
    out.push_str(&line);
    out.push('\n');
    let mut line = String::from("    raw:");
    // A few capabilities by number: KVM_CAP_VM_TYPES(235), KVM_CAP_PMU_CAPABILITY(225),
    // KVM_CAP_X86_DISABLE_EXITS(143), KVM_CAP_NESTED_STATE(157), KVM_CAP_SYNC_REGS(74),
    // KVM_CAP_MP_STATE(14), KVM_CAP_DIRTY_LOG_RING(192), KVM_CAP_MEMORY_FAULT_INFO(232).
    for n in [235u64, 225, 143, 157, 74, 14, 192, 232] {
        let _ = write!(line, " cap{n}={}", kvm.check_extension_raw(n));
    }
    out.push_str(&line);
    out.push('\n');
    Ok(())
}
