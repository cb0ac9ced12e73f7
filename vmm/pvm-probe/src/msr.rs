//! MSRs through the KVM API: the ones probed, and what a vCPU answers.

use crate::layout::*;
use crate::vm::Vm;
use kvm_bindings::{kvm_msr_entry, Msrs};
use kvm_ioctls::VcpuFd;
use std::fmt::Write as _;

pub fn get_msr(vcpu: &VcpuFd, index: u32) -> Result<u64, String> {
    let mut m = Msrs::from_entries(&[kvm_msr_entry {
        index,
        ..Default::default()
    }])
    .map_err(|e| format!("{e:?}"))?;
    match vcpu.get_msrs(&mut m) {
        Ok(1) => Ok(m.as_slice()[0].data),
        Ok(n) => Err(format!("refused ({n} of 1 read)")),
        Err(e) => Err(format!("error {e}")),
    }
}

pub fn set_msr(vcpu: &VcpuFd, index: u32, data: u64) -> Result<(), String> {
    let m = Msrs::from_entries(&[kvm_msr_entry {
        index,
        data,
        ..Default::default()
    }])
    .map_err(|e| format!("{e:?}"))?;
    match vcpu.set_msrs(&m) {
        Ok(1) => Ok(()),
        Ok(n) => Err(format!("refused ({n} of 1 written)")),
        Err(e) => Err(format!("error {e}")),
    }
}

pub fn show<T: std::fmt::LowerHex, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(v) => format!("ok {v:#x}"),
        Err(e) => format!("FAIL {e}"),
    }
}

/// A plausible value to write to each probed MSR.
pub fn probe_value(index: u32) -> u64 {
    match index {
        0x4b56_4df1 | 0x4b56_4d20 => PVCS,
        0x4b56_4df4 | 0x4b56_4d21 => SUP_CODE + 0x1000,
        0x4b56_4df5 | 0x4b56_4d22 => SUP_CODE + 0x2000,
        0x4b56_4df6 => SUP_CODE + 0x2100,
        0x4b56_4df3 => SUP_STACK,
        0x4b56_4df2 => PML4,
        0x4b56_4df0 => 0xffff_ffff_ffff_ffff,
        MSR_STAR => STAR_VALUE,
        MSR_LSTAR => SUP_CODE + 0x3000,
        _ => 0,
    }
}

pub fn all_probed_msrs() -> Vec<(u32, &'static str)> {
    let mut v: Vec<(u32, &str)> = PVM_MSRS_V1.to_vec();
    v.extend_from_slice(&PVM_MSRS_V2);
    v.push((MSR_STAR, "STAR"));
    v.push((MSR_LSTAR, "LSTAR"));
    v.push((MSR_SYSCALL_MASK, "SYSCALL_MASK"));
    v.push((MSR_KVM_SYSTEM_TIME_NEW, "KVM_SYSTEM_TIME_NEW"));
    v
}

pub fn msr_table(vm: &Vm, out: &mut String) {
    for (index, name) in all_probed_msrs() {
        let before = get_msr(&vm.vcpu, index);
        let set = set_msr(&vm.vcpu, index, probe_value(index));
        let after = get_msr(&vm.vcpu, index);
        let _ = writeln!(
            out,
            "    {index:#010x} {name:<26} get {:<22} set({:#x}) {:<22} get {}",
            show(&before),
            probe_value(index),
            match &set {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAIL {e}"),
            },
            show(&after)
        );
    }
}

/// The custom PVM MSRs this host answers (found by msr-scan).
pub const PVM_MSRS_HOST: [(u32, &str); 4] = [
    (0x4b56_4d10, "host-4d10 (rw)"),
    (0x4b56_4d11, "host-4d11 (ro, 'PVM')"),
    (0x4b56_4d12, "host-4d12 (ro)"),
    (0x4b56_4d13, "host-4d13 (ro)"),
];
