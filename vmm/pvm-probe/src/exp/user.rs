//! A complete PVM guest after the public specification.

use crate::asm::{assemble, timed_loop, RDTSC};
use crate::layout::*;
use crate::msr::set_msr;
use crate::run::{inject_irq, run};
use crate::vm::{Mode, Vm};
use crate::Res;
use kvm_ioctls::Kvm;
use std::fmt::Write as _;
use std::time::Duration;

/// Which MSR numbering this host uses, found by KVM_SET_MSRS; None if
/// neither took VCPU_STRUCT.
pub struct Abi {
    vcpu_struct: u32,
    event_entry: u32,
    retu_rip: u32,
}

pub fn find_abi(kvm: &Kvm) -> Res<Option<Abi>> {
    let vm = Vm::in_mode(kvm, Mode::Long64)?;
    if set_msr(&vm.vcpu, 0x4b56_4d20, PVCS).is_ok() {
        return Ok(Some(Abi {
            vcpu_struct: 0x4b56_4d20,
            event_entry: 0x4b56_4d21,
            retu_rip: 0x4b56_4d22,
        }));
    }
    if set_msr(&vm.vcpu, 0x4b56_4df1, PVCS).is_ok() {
        return Ok(Some(Abi {
            vcpu_struct: 0x4b56_4df1,
            event_entry: 0x4b56_4df4,
            retu_rip: 0x4b56_4df5,
        }));
    }
    Ok(None)
}

/// A complete PVM guest: PVCS, event entry, LSTAR, STAR and RETU_RIP set
/// through KVM_SET_MSRS; supervisor events, an injected interrupt, then user
/// mode (entered with the ERETU synthetic instruction) with timings of a
/// loop, a null syscall round trip and an exception round trip.
pub fn exp_user(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== user: full PVM setup, supervisor events, interrupt injection, user mode\n");
    let Some(abi) = find_abi(kvm)? else {
        out.push_str(
            "    neither MSR numbering accepted VCPU_STRUCT through KVM_SET_MSRS; skipped\n",
        );
        return Ok(());
    };
    let _ = writeln!(
        out,
        "    using VCPU_STRUCT={:#x} EVENT_ENTRY={:#x} RETU_RIP={:#x}",
        abi.vcpu_struct, abi.event_entry, abi.retu_rip
    );
    // Supervisor layout: main code at SUP_CODE; event entry (user) at
    // SUP_CODE+0x1000, supervisor entry at +0x1200; ERETU at +0x2000;
    // LSTAR at +0x3000.
    // Result slots (u64): 0 supervisor-event count, 1 last vector word,
    // 2 last rip, 3 irq seen, 4..5 user loop tsc, 6 syscall cycles total,
    // 7 exception cycles total, 8 user events count, 9 last user vector,
    // 10.. PVCS dump (16 u64) after the supervisor #UD, 30.. PVCS dump after
    // the first user syscall, 50 user rcx after syscall return, 51 flags.
    let main = format!(
        r#"
    # A supervisor #UD: delivered at EVENT_ENTRY+512 with PVCS filled in.
    movq $0, PVCS
    movw $0, PVCS+0x46
    lea after_ud(%rip), %r15
    ud2
after_ud:
    out %al, $0x80
    # An interrupt injected by the VMM, with PVCS.event_flags.IF set.
    movq $0x200, PVCS
    out %al, ${PORT_INJECT}
    mov $100000, %ecx
3:  cmpq $0, RES+24
    jne 4f
    dec %ecx
    jnz 3b
4:  movq $0, PVCS
    out %al, $0x85
    # To user mode: fill the PVCS and execute the ERETU instruction.
    movw ${USER_CS}, PVCS+0x40
    movw ${USER_DS}, PVCS+0x42
    movw $0x100, PVCS+0x46
    movq $0, PVCS+0x48
    movl $0x202, PVCS+0x50
    movq $USER_CODE, PVCS+0x58
    movq $0, PVCS+0x60
    movq $0x202, PVCS+0x68
    movq $USER_STACK, %rsp
    jmp retu

.org {ev:#x}
    # Event from user mode.
    incq RES+64
    movzwq PVCS+0x46, %rax
    mov %rax, RES+72
    cmpb $6, %al
    jne 1f
    addq $2, PVCS+0x58
1:  movw $0x100, PVCS+0x46
    jmp retu

.org {sev:#x}
    # Event from supervisor mode.
    incq RES
    movzwq PVCS+0x46, %rax
    mov %rax, RES+8
    mov PVCS+0x58, %rax
    mov %rax, RES+16
    mov $0, %ecx
5:  mov PVCS(,%rcx,8), %rax
    mov %rax, RES+80(,%rcx,8)
    inc %ecx
    cmp $16, %ecx
    jne 5b
    movw $0, PVCS+0x46
    cmpb $0x40, RES+8
    jne 6f
    movq $1, RES+24
    mov PVCS+0x58, %rax
    jmp *%rax
6:  jmp *%r15

.org {retu:#x}
retu:
    syscall

.org {lstar:#x}
    # SYSCALL from user mode.
    cmp $0xd0e, %rax
    je done
    cmpq $0, RES+240
    jne 7f
    mov $0, %ecx
8:  mov PVCS(,%rcx,8), %rax
    mov %rax, RES+240(,%rcx,8)
    inc %ecx
    cmp $16, %ecx
    jne 8b
7:  movw $0x100, PVCS+0x46
    jmp retu
done:
    out %al, $0xf4
"#,
        ev = 0x1000,
        sev = 0x1200,
        retu = 0x2000,
        lstar = 0x3000,
    );
    let timed = timed_loop(1_000_000, "RES+32", "RES+40");
    let user = format!(
        r#"
    {timed}
    # 1000 null syscalls.
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
2:  xor %eax, %eax
    syscall
    dec %r12d
    jnz 2b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+48
    mov %rcx, RES+400
    pushfq
    pop %rax
    mov %rax, RES+408
    # 1000 exceptions (#UD, the handler skips the ud2).
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
3:  ud2
    dec %r12d
    jnz 3b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+56
    mov $0xd0e, %eax
    syscall
"#
    );
    let mut vm = Vm::with_code(kvm, Mode::Long64, "user-sup", &main)?;
    vm.load(USER_CODE, &assemble("user-user", USER_CODE, &user)?)?;
    for (index, v, name) in [
        (abi.vcpu_struct, PVCS, "VCPU_STRUCT"),
        (abi.event_entry, SUP_CODE + 0x1000, "EVENT_ENTRY"),
        (abi.retu_rip, SUP_CODE + 0x2000, "RETU_RIP"),
        (MSR_LSTAR, SUP_CODE + 0x3000, "LSTAR"),
        (MSR_STAR, STAR_VALUE, "STAR"),
    ] {
        let _ = writeln!(
            out,
            "    KVM_SET_MSRS {name} {index:#x} = {v:#x}: {:?}",
            set_msr(&vm.vcpu, index, v)
        );
    }
    let mut notes = Vec::new();
    let stop = run(&mut vm, out, Duration::from_secs(30), |vm, port| {
        if port == PORT_INJECT {
            notes.push(format!(
                "interrupt 0x40 at port {port:#x}: {}",
                inject_irq(vm, 0x40)
            ));
        }
    });
    for n in notes {
        let _ = writeln!(out, "    {n}");
    }
    let r = vm.results(64);
    let _ = writeln!(
        out,
        "    supervisor events: {} (last vector word {:#x}, rip {:#x}); irq 0x40 seen: {}",
        r[0], r[1], r[2], r[3]
    );
    let dump = |out: &mut String, name: &str, q: &[u64]| {
        let words: Vec<String> = q.iter().map(|w| format!("{w:x}")).collect();
        let _ = writeln!(out, "    PVCS after {name}: {}", words.join(" "));
    };
    dump(out, "the supervisor events", &r[10..26]);
    dump(out, "the first user syscall", &r[30..46]);
    let _ = writeln!(
        out,
        "    user loop: {} cycles per 1000 iterations; null syscall round trip {} cycles; #UD round trip {} cycles; user events {} (last vector word {:#x}); rcx after syscall {:#x}, rflags {:#x}",
        r[5].wrapping_sub(r[4]) / 1000,
        r[6] / 1000,
        r[7] / 1000,
        r[8],
        r[9],
        r[50],
        r[51]
    );
    let _ = writeln!(out, "    stop: {stop:?}");
    Ok(())
}
