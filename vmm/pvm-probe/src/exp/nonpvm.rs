//! Non-PVM mode: the states the VMM can set directly, their costs, CPUID
//! and whether `syscall` is a hypercall there.

use crate::asm::{timed_loop, RDTSC};
use crate::msr::{all_probed_msrs, probe_value};
use crate::run::{cpuid_str, run, Stop};
use crate::vm::{Mode, Vm};
use crate::Res;
use kvm_ioctls::Kvm;
use std::fmt::Write as _;
use std::time::Duration;

pub fn exp_nonpvm(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== nonpvm: 32-bit protected mode (PVH entry state), loop of 2000 `dec; jnz`, then out 0x80 x100\n");
    let src = r#"
.code32
    lfence
    rdtsc
    mov %eax, RES
    mov %edx, RES+4
    mov $2000, %ecx
1:  dec %ecx
    jnz 1b
    rdtsc
    mov %eax, RES+8
    mov %edx, RES+12
    mov $100, %ecx
2:  out %al, $0x80
    dec %ecx
    jnz 2b
    rdtsc
    mov %eax, RES+16
    mov %edx, RES+20
    out %al, $0xf4
"#;
    let mut vm = Vm::with_code(kvm, Mode::Prot32, "nonpvm", src)?;
    run(&mut vm, out, Duration::from_secs(20), |_, _| {});
    let r = vm.results(3);
    let _ = writeln!(
        out,
        "    loop: {} cycles/iteration; out 0x80 round trip: {} cycles",
        r[1].wrapping_sub(r[0]) / 2000,
        r[2].wrapping_sub(r[1]) / 100
    );
    Ok(())
}

/// The 64-bit supervisor state set directly with KVM_SET_SREGS: a loop and
/// port I/O, timed. Results, by index:
///   0..1  loop of 1e6 iterations (start, end tsc)
///   2     100 x `out 0x81` (cycles total)
pub fn exp_long64(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== long64: SET_SREGS straight to 64-bit supervisor state (CS 0x10 L=1 DPL0, SS 0x18, DS..GS null, CR0 PG|PE|WP|NE|AM|MP|ET, CR4 PAE|OSFXSR|OSXMMEXCPT, EFER SCE|LME|LMA|NXE, CR3 identity map; code at 1 MiB in a U=0 page)\n");
    let timed = timed_loop(1_000_000, "RES", "RES+8");
    let src = format!(
        r#"
    {timed}
    out %al, $0x80
    {RDTSC}
    mov %rax, %rsi
    mov $100, %ecx
2:  out %al, $0x81
    dec %ecx
    jnz 2b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+16
    out %al, $0xf4
"#
    );
    let mut vm = Vm::with_code(kvm, Mode::Long64, "long64", &src)?;
    run(&mut vm, out, Duration::from_secs(30), |_, _| {});
    let r = vm.results(3);
    let _ = writeln!(
        out,
        "    loop: {} cycles per 1000 iterations; out 0x81 round trip: {} cycles",
        r[1].wrapping_sub(r[0]) / 1000,
        r[2] / 100
    );
    Ok(())
}

pub fn exp_cpuid(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== cpuid: synthetic CPUID (invlpg 0xffffffffff4d5650; cpuid) and plain CPUID from 64-bit supervisor state\n");
    let leaves: [u32; 8] = [
        0x4000_0000,
        0x4000_0001,
        0x4000_0010,
        0x4000_0100,
        0x4000_0200,
        0x4000_0201,
        0x0000_0001,
        0x0000_0000,
    ];
    for synthetic in [true, false] {
        let mut src = String::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let insn = if synthetic {
                ".byte 0x0f,0x01,0x3c,0x25,0x50,0x56,0x4d,0xff\ncpuid"
            } else {
                "cpuid"
            };
            let _ = write!(
                src,
                "mov ${leaf:#x}, %eax\nxor %ecx, %ecx\n{insn}\n\
                 mov %rax, RES+{a}\nmov %rbx, RES+{b}\nmov %rcx, RES+{c}\nmov %rdx, RES+{d}\n\
                 out %al, $0x80\n",
                a = 32 * i,
                b = 32 * i + 8,
                c = 32 * i + 16,
                d = 32 * i + 24
            );
        }
        src.push_str("out %al, $0xf4\n");
        let mut vm = Vm::with_code(kvm, Mode::Long64, "cpuid", &src)?;
        let _ = writeln!(out, "  {}:", if synthetic { "synthetic" } else { "plain" });
        let mut log = String::new();
        run(&mut vm, &mut log, Duration::from_secs(10), |_, _| {});
        out.push_str(
            &log.lines()
                .filter(|l| !l.contains("exit: Io"))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        );
        let r = vm.results(4 * leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            let q = &r[4 * i..4 * i + 4];
            let _ = writeln!(
                out,
                "    leaf {leaf:#010x}: eax={:#x} ebx={:#x} ecx={:#x} edx={:#x} \"{}\"",
                q[0] as u32,
                q[1] as u32,
                q[2] as u32,
                q[3] as u32,
                cpuid_str(&q[1..4])
            );
        }
    }
    Ok(())
}

/// Hypercalls from 64-bit supervisor state: PVM_HC_RDMSR of each probed MSR,
/// then PVM_HC_WRMSR, then RDMSR again; then timing of cheap hypercalls.
pub fn exp_hypercall(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== hypercall: syscall from 64-bit supervisor state with RAX=PVM_HC_* (0x17088200+n), args RBX, R10, RDX\n");
    let msrs = all_probed_msrs();
    let mut src = String::new();
    let hc = |src: &mut String, nr: u64, a0: u64, a1: u64, slot: usize| {
        let _ = write!(
            src,
            "mov ${nr:#x}, %rax\nmov ${a0:#x}, %rbx\nmov ${a1:#x}, %r10\nsyscall\n\
             mov %rax, RES+{}\nmov %rdx, RES+{}\nout %al, $0x80\n",
            8 * slot,
            8 * slot + 8
        );
    };
    // Slots: 3 per MSR: (rdmsr rax, rdmsr rdx), (wrmsr rax, -), (rdmsr rax, rdx).
    for (i, (index, _)) in msrs.iter().enumerate() {
        let base = 6 * i;
        hc(&mut src, 0x1708_8207, *index as u64, 0, base);
        hc(
            &mut src,
            0x1708_8208,
            *index as u64,
            probe_value(*index),
            base + 2,
        );
        hc(&mut src, 0x1708_8207, *index as u64, 0, base + 4);
    }
    let t = 6 * msrs.len();
    // Timing: 1000 x PVM_HC_TLB_FLUSH_CURRENT, 1000 x PVM_HC_IRQ_WIN, one
    // unknown KVM hypercall (nr 0x100), then PVM_HC_IRQ_HALT.
    let _ = write!(
        src,
        r#"
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
1:  mov $0x17088204, %eax
    syscall
    dec %r12d
    jnz 1b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+{s0}
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
2:  mov $0x17088201, %eax
    syscall
    dec %r12d
    jnz 2b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+{s1}
    mov $0x100, %eax
    syscall
    mov %rax, RES+{s2}
    out %al, $0x83
    mov $0x17088202, %eax
    syscall
    out %al, $0x84
    out %al, $0xf4
"#,
        s0 = 8 * t,
        s1 = 8 * t + 8,
        s2 = 8 * t + 16
    );
    let mut vm = Vm::with_code(kvm, Mode::Long64, "hypercall", &src)?;
    let mut log = String::new();
    let stop = run(&mut vm, &mut log, Duration::from_secs(20), |_, _| {});
    out.push_str(
        &log.lines()
            .filter(|l| !l.contains("exit: Io { port: 128"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    if let Stop::Hlt = stop {
        out.push_str("    (PVM_HC_IRQ_HALT stopped the vCPU with KVM_EXIT_HLT; resuming)\n");
        run(&mut vm, out, Duration::from_secs(10), |_, _| {});
    }
    let r = vm.results(t + 3);
    for (i, (index, name)) in msrs.iter().enumerate() {
        let q = &r[6 * i..6 * i + 6];
        let _ = writeln!(
            out,
            "    {index:#010x} {name:<26} HC_RDMSR rax={:#x} rdx={:#x} | HC_WRMSR({:#x}) rax={:#x} | HC_RDMSR rax={:#x} rdx={:#x}",
            q[0], q[1], probe_value(*index), q[2], q[4], q[5]
        );
    }
    let _ = writeln!(
        out,
        "    PVM_HC_TLB_FLUSH_CURRENT: {} cycles each; PVM_HC_IRQ_WIN: {} cycles each; KVM hypercall 0x100 returned rax={:#x}",
        r[t] / 1000,
        r[t + 1] / 1000,
        r[t + 2]
    );
    Ok(())
}
