//! PVM MSRs through KVM_GET/SET_MSRS and through guest rdmsr/wrmsr.

use crate::layout::*;
use crate::msr::*;
use crate::run::{run, Stop};
use crate::vm::{Mode, Vm};
use crate::Res;
use kvm_ioctls::{Kvm, VcpuFd};
use std::fmt::Write as _;
use std::time::Duration;

pub fn exp_ioctl_msrs(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== ioctl-msrs: KVM_GET/SET_MSRS in the reset state (before any KVM_RUN)\n");
    let vm = Vm::new(kvm)?;
    msr_table(&vm, out);

    out.push_str("== ioctl-msrs: the same after SET_SREGS to 64-bit supervisor state (CS 0x10 L=1 DPL0, EFER LME|LMA|SCE)\n");
    let mut vm = Vm::with_code(
        kvm,
        Mode::Long64,
        "msr-first-run",
        "out %al, $0x80\nout %al, $0xf4\n",
    )?;
    msr_table(&vm, out);
    out.push_str("    first KVM_RUN (guest: out 0x80; out 0xf4):\n");
    run(&mut vm, out, Duration::from_secs(5), |_, _| {});
    out.push_str("  after the first KVM_RUN:\n");
    msr_table(&vm, out);

    out.push_str("== ioctl-msrs: after one KVM_RUN in 32-bit protected mode (non-PVM mode)\n");
    let mut vm = Vm::with_code(
        kvm,
        Mode::Prot32,
        "msr-prot32",
        ".code32\nout %al, $0x80\nout %al, $0xf4\n",
    )?;
    run(&mut vm, out, Duration::from_secs(5), |_, _| {});
    msr_table(&vm, out);
    Ok(())
}

/// Scans MSR ranges with KVM_GET_MSRS (and KVM_SET_MSRS of the value read)
/// on a vCPU in 64-bit supervisor state, before any KVM_RUN, and lists the
/// indices that answer and are not in KVM_GET_MSR_INDEX_LIST.
pub fn exp_msr_scan(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str(
        "== msr-scan: KVM_GET_MSRS over MSR ranges (answers outside KVM_GET_MSR_INDEX_LIST)\n",
    );
    let listed: Vec<u32> = kvm
        .get_msr_index_list()
        .map(|l| l.as_slice().to_vec())
        .unwrap_or_default();
    let vm = Vm::in_mode(kvm, Mode::Long64)?;
    let ranges: [(u32, u32); 8] = [
        (0x4b56_4c00, 0x4b56_4eff),
        (0x4000_0000, 0x4000_03ff),
        (0x0000_0000, 0x0000_1fff),
        (0xc000_0000, 0xc000_1fff),
        (0xc001_0000, 0xc001_1fff),
        (0x1708_8200, 0x1708_82ff),
        (0x5056_4d00, 0x5056_4dff),
        (0x4d56_5000, 0x4d56_50ff),
    ];
    for (lo, hi) in ranges {
        let mut hits = Vec::new();
        for index in lo..=hi {
            if let Ok(v) = get_msr(&vm.vcpu, index) {
                if !listed.contains(&index) {
                    let w = set_msr(&vm.vcpu, index, v).is_ok();
                    hits.push(format!("{index:x}={v:x}{}", if w { "" } else { "(ro)" }));
                }
            }
        }
        let _ = writeln!(
            out,
            "    {lo:#010x}..={hi:#010x}: {} extra: {}",
            hits.len(),
            hits.join(" ")
        );
    }
    Ok(())
}

pub fn scan_kvm_range(vcpu: &VcpuFd, listed: &[u32]) -> Vec<String> {
    (0x4b56_4c00u32..=0x4b56_4eff)
        .filter(|i| !listed.contains(i))
        .filter_map(|i| get_msr(vcpu, i).ok().map(|v| format!("{i:x}={v:x}")))
        .collect()
}

/// What 0x4b564d10 accepts, and whether writing it makes more MSRs answer.
pub fn exp_ctl_msr(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== ctl-msr: KVM_SET_MSRS of 0x4b564d10 with single bits, read back, rescan 0x4b564c00..0x4b564eff\n");
    let listed: Vec<u32> = kvm
        .get_msr_index_list()
        .map(|l| l.as_slice().to_vec())
        .unwrap_or_default();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut values: Vec<u64> = (0..64).map(|b| 1u64 << b).collect();
    values.extend([
        0,
        0x1ff,
        0x3ff,
        0x7ff,
        0x4d5650,
        0x6000,
        0x6001,
        0x6400,
        PVCS | 0x400,
    ]);
    for v in values {
        let vm = Vm::in_mode(kvm, Mode::Long64)?;
        match set_msr(&vm.vcpu, 0x4b56_4d10, v) {
            Ok(()) => {
                let back = get_msr(&vm.vcpu, 0x4b56_4d10);
                let scan = scan_kvm_range(&vm.vcpu, &listed);
                accepted.push(format!("{v:#x}->{}", show(&back)));
                let _ = writeln!(
                    out,
                    "    wrote {v:#x}: read back {}; answering: {}",
                    show(&back),
                    scan.join(" ")
                );
            }
            Err(_) => refused.push(format!("{v:#x}")),
        }
    }
    let _ = writeln!(out, "    refused: {}", refused.join(" "));
    Ok(())
}

/// Guest wrmsr/rdmsr of one MSR from 64-bit supervisor state, one VM each
/// (a refused access raises #GP, which without an event entry is fatal).
pub fn exp_guest_wrmsr(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str(
        "== guest-wrmsr: wrmsr then rdmsr from 64-bit supervisor state, one fresh VM per MSR\n",
    );
    for mode in [Mode::Long64, Mode::Prot32] {
        let _ = writeln!(out, "  mode {mode:?}:");
        for (index, name) in all_probed_msrs() {
            let v = probe_value(index);
            let src = format!(
                "{code}mov ${index:#x}, %ecx\nmov ${lo:#x}, %eax\nmov ${hi:#x}, %edx\nwrmsr\n\
                 out %al, $0x80\nrdmsr\nmov %eax, RES\nmov %edx, RES+4\nout %al, $0xf4\n",
                code = if mode == Mode::Prot32 {
                    ".code32\n"
                } else {
                    ""
                },
                lo = v as u32,
                hi = (v >> 32) as u32
            );
            let mut vm = Vm::with_code(kvm, mode, "wrmsr", &src)?;
            vm.w64(RES, 0xdead_beef)?;
            let mut log = String::new();
            let mut marks = 0;
            let stop = run(&mut vm, &mut log, Duration::from_secs(5), |_, _| marks += 1);
            let read = vm.r64(RES);
            let _ = writeln!(
                out,
                "    {index:#010x} {name:<26} wrmsr({v:#x}) {} rdmsr {} (stop {:?}); KVM_GET_MSRS now {}",
                if marks > 0 { "ok" } else { "FAULTED" },
                if matches!(stop, Stop::Io { .. }) {
                    format!("= {read:#x}")
                } else {
                    "FAULTED".into()
                },
                stop,
                show(&get_msr(&vm.vcpu, index))
            );
        }
    }
    Ok(())
}
