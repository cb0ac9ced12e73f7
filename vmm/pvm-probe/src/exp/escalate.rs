//! Into PVM mode from non-PVM mode: `iretq` to user mode, `syscall` to
//! LSTAR, and what the handler can do there.

use crate::asm::{assemble, timed_loop, RDTSC};
use crate::layout::*;
use crate::msr::*;
use crate::run::{run, Stop};
use crate::vm::{set_mode, Mode, Vm};
use crate::Res;
use kvm_ioctls::Kvm;
use std::fmt::Write as _;
use std::time::Duration;

/// Enters PVM mode the way that works from non-PVM mode: `iretq` from the
/// (emulated) 64-bit supervisor state to user mode with the host's user
/// selectors, then `syscall` from user mode into the LSTAR handler, which
/// runs `stage2` in PVM supervisor mode. STAR and LSTAR are set with
/// KVM_SET_MSRS (which this host accepts). `stage2` stores results from
/// RES+0x100 on and bumps the progress word at RES+0xf8 before each step.
/// Returns the VM after it stopped, with the stop.
pub fn escalate(kvm: &Kvm, out: &mut String, name: &str, stage2: &str) -> Res<(Vm, Stop)> {
    escalate_at(kvm, out, name, stage2, LSTAR_USER_PAGE, &[])
}

/// Where `escalate` puts its LSTAR handler: in a U=1 page, the only kind
/// this host lets the handler execute from (see the escalate experiment).
pub const LSTAR_USER_PAGE: u64 = USER_CODE + 0x1_0000;

/// `escalate` with the LSTAR handler (and its `stage2`) at `lstar`.
pub fn escalate_at(
    kvm: &Kvm,
    out: &mut String,
    name: &str,
    stage2: &str,
    lstar: u64,
    msrs: &[(u32, u64)],
) -> Res<(Vm, Stop)> {
    let sup = format!(
        r#"
    # Non-PVM (emulated) supervisor: iretq to user mode.
    movq $1, RES+0xf8
    pushq ${USER_DS}
    pushq $USER_STACK
    pushq $0x202
    pushq ${USER_CS}
    pushq $USER_CODE
    iretq
"#
    );
    let handler = format!(
        r#"
    # Entered by SYSCALL from user mode.
    movq $2, RES+0xf8
    mov %rcx, RES+0x10
    mov %r11, RES+0x18
    mov %rsp, RES+0x20
    {RDTSC}
    mov %rax, RES+0x28
    movq $SUP_STACK, %rsp
{stage2}
    movq $0xff, RES+0xf8
    out %al, $0xf4
"#
    );
    let timed = timed_loop(1_000_000, "RES", "RES+8");
    let user = format!(
        r#"
    {timed}
    {RDTSC}
    mov %rax, RES+0x30
    syscall
"#
    );
    let mut vm = Vm::with_code(kvm, Mode::Long64, &format!("{name}-sup"), &sup)?;
    vm.load(
        USER_CODE,
        &assemble(&format!("{name}-user"), USER_CODE, &user)?,
    )?;
    vm.load(lstar, &assemble(&format!("{name}-lstar"), lstar, &handler)?)?;
    set_msr(&vm.vcpu, MSR_STAR, STAR_VALUE)?;
    set_msr(&vm.vcpu, MSR_LSTAR, lstar)?;
    for (index, v) in msrs {
        if let Err(e) = set_msr(&vm.vcpu, *index, *v) {
            let _ = writeln!(out, "    KVM_SET_MSRS {index:#x}={v:#x}: {e}");
        }
    }
    let stop = run(&mut vm, out, Duration::from_secs(3), |_, _| {});
    let r = vm.results(7);
    let _ = writeln!(
        out,
        "    progress word {:#x}; user loop {} cycles/1000 iterations; syscall user->LSTAR {} cycles; at LSTAR rcx={:#x} r11={:#x} rsp={:#x}",
        vm.r64(RES + 0xf8),
        r[1].wrapping_sub(r[0]) / 1000,
        r[5].wrapping_sub(r[6]),
        r[2],
        r[3],
        r[4]
    );
    Ok((vm, stop))
}

pub fn exp_escalate(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== escalate: iretq to user (0x33/0x2b), syscall to LSTAR; in the handler: a loop, then `out 0xf4`\n");
    let timed = timed_loop(1_000_000, "RES+0x100", "RES+0x108");
    let stage2 = format!(
        r#"
    movq $3, RES+0xf8
    {timed}
    movq $4, RES+0xf8
"#
    );
    for (what, lstar) in [
        ("LSTAR handler in a U=0 page", SUP_CODE + 0x3000),
        ("LSTAR handler in a U=1 page", USER_CODE + 0x1_0000),
    ] {
        let _ = writeln!(out, "  {what} ({lstar:#x}):");
        let (vm, _) = escalate_at(kvm, out, "escalate", &stage2, lstar, &[])?;
        let r = vm.results(0x22);
        let _ = writeln!(
            out,
            "    supervisor loop {} cycles/1000 iterations",
            r[0x21].wrapping_sub(r[0x20]) / 1000
        );
    }
    Ok(())
}

/// From PVM supervisor mode reached by `escalate`: one hypercall each.
pub fn exp_smod_hypercall(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== smod-hypercall: from PVM supervisor mode (after escalate), one hypercall per VM: syscall with RAX=nr, RBX=a0, R10=a1\n");
    let mut cases: Vec<(String, u64, u64, u64)> = Vec::new();
    for (index, name) in all_probed_msrs() {
        cases.push((format!("HC_RDMSR {name}"), 0x1708_8207, index as u64, 0));
    }
    for (index, name) in PVM_MSRS_V1.iter().chain(PVM_MSRS_V2.iter()) {
        cases.push((
            format!("HC_WRMSR {name}"),
            0x1708_8208,
            *index as u64,
            probe_value(*index),
        ));
    }
    cases.push(("HC_IRQ_WIN".into(), 0x1708_8201, 0, 0));
    cases.push(("HC_TLB_FLUSH_CURRENT".into(), 0x1708_8204, 0, 0));
    cases.push(("HC_TLB_FLUSH".into(), 0x1708_8203, 0, 0));
    cases.push(("HC_LOAD_PGTBL(1, cr3)".into(), 0x1708_8200, 1, PML4));
    cases.push(("KVM hypercall 0x100".into(), 0x100, 0, 0));
    cases.push(("HC_IRQ_HALT".into(), 0x1708_8202, 0, 0));
    for (name, nr, a0, a1) in cases {
        let stage2 = format!(
            r#"
    movq $3, RES+0xf8
    mov ${nr:#x}, %rax
    mov ${a0:#x}, %rbx
    mov ${a1:#x}, %r10
    xor %edx, %edx
    syscall
    mov %rax, RES+0x100
    mov %rdx, RES+0x108
    movq $4, RES+0xf8
"#
        );
        let mut log = String::new();
        let (vm, stop) = escalate(kvm, &mut log, "smod-hc", &stage2)?;
        let progress = vm.r64(RES + 0xf8);
        let _ = writeln!(
            out,
            "    {name:<34} progress {progress:#x} rax={:#x} rdx={:#x} stop {stop:?}",
            vm.r64(RES + 0x100),
            vm.r64(RES + 0x108)
        );
        if progress < 4 {
            out.push_str(&log);
        }
        print!("{out}");
        out.clear();
    }
    Ok(())
}

/// `escalate` with 0x4b564d10 set to a PVCS address plus flags first: does
/// SYSCALL from user mode then reach a supervisor mode where SYSCALL is a
/// hypercall? Dumps the PVCS page and the MSRs after the run.
pub fn exp_pvcs(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== pvcs: 0x4b564d10 = PVCS|flags via KVM_SET_MSRS, then escalate; in the handler HC_RDMSR(0x4b564d11), out 0xf4\n");
    let stage2 = r#"
    movq $3, RES+0xf8
    mov $0x17088207, %rax
    mov $0x4b564d11, %rbx
    xor %edx, %edx
    syscall
    mov %rax, RES+0x100
    mov %rdx, RES+0x108
    movq $4, RES+0xf8
"#;
    let args: Vec<String> = std::env::args().collect();
    let mut ctls: Vec<u64> = vec![0x6001, 0x6401, 0x601f, 0x6003, 0x6005, 0x6009, 0x6011];
    if let Some(v) = args.iter().find_map(|a| a.strip_prefix("ctl=")) {
        ctls = v
            .split(',')
            .filter_map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok())
            .collect();
    }
    for ctl in ctls {
        let _ = writeln!(out, "  0x4b564d10 = {ctl:#x}:");
        let mut log = String::new();
        let (vm, stop) = escalate_at(
            kvm,
            &mut log,
            "pvcs",
            stage2,
            LSTAR_USER_PAGE,
            &[(0x4b56_4d10, ctl)],
        )?;
        out.push_str(&log);
        let _ = writeln!(
            out,
            "    progress {:#x}; HC_RDMSR rax={:#x} rdx={:#x}; stop {stop:?}",
            vm.r64(RES + 0xf8),
            vm.r64(RES + 0x100),
            vm.r64(RES + 0x108)
        );
        let words: Vec<String> = (0..32)
            .map(|i| format!("{:x}", vm.r64(PVCS + 8 * i)))
            .collect();
        let _ = writeln!(out, "    PVCS page: {}", words.join(" "));
        let msrs: Vec<String> = PVM_MSRS_HOST
            .iter()
            .map(|(i, _)| format!("{i:x}={}", show(&get_msr(&vm.vcpu, *i))))
            .collect();
        let _ = writeln!(out, "    MSRs now: {}", msrs.join(" "));
        print!("{out}");
        out.clear();
    }
    Ok(())
}

/// 64-bit supervisor code at the top-2-GiB alias (PML4 slot 511), with and
/// without 0x4b564d10 set: does supervisor code run there, natively?
pub fn exp_high(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== high: 64-bit supervisor state with RIP/RSP in the top 2 GiB (PML4[511]), 0x4b564d10 variants\n");
    let timed = timed_loop(100_000, "RES+0x100", "RES+0x108");
    let src = format!(
        r#"
    movq $1, RES+0xf8
    out %al, $0x80
    {timed}
    movq $2, RES+0xf8
    mov $0x40000000, %eax
    xor %ecx, %ecx
    .byte 0x0f,0x01,0x3c,0x25,0x50,0x56,0x4d,0xff
    cpuid
    mov %rax, RES+0x110
    mov %rbx, RES+0x118
    movq $3, RES+0xf8
    mov $0x17088207, %rax
    mov $0x4b564d11, %rbx
    syscall
    mov %rax, RES+0x120
    mov %rdx, RES+0x128
    movq $4, RES+0xf8
    out %al, $0xf4
"#
    );
    let base = HIGH_ALIAS + SUP_CODE;
    let code = assemble("high", base, &src)?;
    for ctl in [None, Some(0x1u64), Some(PVCS | 1), Some(PVCS | 0x400)] {
        let mut vm = Vm::new(kvm)?;
        vm.load(SUP_CODE, &code)?;
        set_mode(&vm, Mode::Long64, base, HIGH_ALIAS + SUP_STACK)?;
        set_msr(&vm.vcpu, MSR_STAR, STAR_VALUE)?;
        if let Some(v) = ctl {
            set_msr(&vm.vcpu, 0x4b56_4d10, v)?;
        }
        let _ = writeln!(out, "  0x4b564d10 = {ctl:x?}:");
        run(&mut vm, out, Duration::from_secs(3), |_, _| {});
        let r = vm.results(0x26);
        let _ = writeln!(
            out,
            "    progress {:#x}; loop {} cycles/1000 iterations; synthetic cpuid 0x40000000 eax={:#x} ebx={:#x}; HC_RDMSR rax={:#x} rdx={:#x}",
            r[0x1f],
            r[0x21].wrapping_sub(r[0x20]) / 100,
            r[0x22],
            r[0x23],
            r[0x24],
            r[0x25]
        );
        print!("{out}");
        out.clear();
    }
    Ok(())
}
