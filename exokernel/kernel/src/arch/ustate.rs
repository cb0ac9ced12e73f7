//! The machine state an environment has beyond its registers: x87, SSE and
//! (where offered) AVX state, and the FS and GS bases. Each environment has
//! its own, swapped eagerly when another environment enters: the kernel is
//! built soft-float and never touches these, so the state in the CPU is
//! always the entering environment's, and a swap costs one XSAVE and one
//! XRSTOR (FXSAVE/FXRSTOR without XSAVE) only when the environment changes.
//! Eager rather than lazy (#NM) because unmodified programs use SSE in
//! memcpy, so nearly every environment touches it every slice; and kept in
//! the kernel rather than handed to the libOS (Aegis's `ae_fpu`) because an
//! environment descheduled by the timer cannot save its own state. Upcalls
//! run in the same environment: a handler that uses these registers saves
//! them itself (FXSAVE and XSAVE work in user mode).

use core::arch::x86_64::{__cpuid, __cpuid_count};
use exo_abi::env::NENV;
use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::Msr;

const AREA_BYTES: usize = 4096;
const MSR_FS_BASE: u32 = 0xC000_0100;
const MSR_GS_BASE: u32 = 0xC000_0101;

/// XCR0 bits the kernel enables where offered: x87, SSE, AVX.
const XCR0_WANTED: u64 = 0b111;

#[repr(C, align(64))]
struct State {
    area: [u8; AREA_BYTES],
    fs: u64,
    gs: u64,
}

const EMPTY: State = State {
    area: [0; AREA_BYTES],
    fs: 0,
    gs: 0,
};

/// How state is saved: FXSAVE (x87 and SSE), or XSAVE of the XCR0 mask.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fx,
    Xsave(u64),
}

struct All {
    mode: Mode,
    /// Whether XCR0 is set and `clean` recorded (at the first environment).
    ready: bool,
    /// Slot whose state is in the CPU (0: none).
    owner: usize,
    clean: State,
    envs: [State; NENV],
}

/// One CPU, and only the kernel (with interrupts off) touches it.
static mut ALL: All = All {
    mode: Mode::Fx,
    ready: false,
    owner: 0,
    clean: EMPTY,
    envs: [const { EMPTY }; NENV],
};

fn all() -> &'static mut All {
    // SAFETY: single CPU; called only from kernel code running with
    // interrupts off (boot, and switches under the KERNEL lock), never
    // reentrantly, so no other reference to ALL is live.
    unsafe { &mut *core::ptr::addr_of_mut!(ALL) }
}

/// Turns on what the CPU offers (XSAVE, FSGSBASE) and chooses how state is
/// saved. CR4.OSFXSR is set by `cpu::init`. Returns a description for the
/// boot message. The FPU itself is first touched when the first
/// environment is made (`prepare`), so that a kernel that stops at boot
/// never needs it.
pub fn init() -> &'static str {
    let a = all();
    let ecx = __cpuid(1).ecx;
    let xsave = ecx & (1 << 26) != 0 && __cpuid(0).eax >= 0xd;
    let fsgsbase = __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & 1 != 0;
    // SAFETY: enabling architectural features CPUID reports.
    unsafe {
        Cr4::update(|f| {
            if xsave {
                f.insert(Cr4Flags::OSXSAVE);
            }
            if fsgsbase {
                f.insert(Cr4Flags::FSGSBASE);
            }
        });
    }
    if xsave {
        let mask = (__cpuid_count(0xd, 0).eax as u64 & XCR0_WANTED) | 1;
        // The area size XSAVE needs for every supported component bounds
        // the one for `mask`.
        if (__cpuid_count(0xd, 0).ecx as usize) <= AREA_BYTES {
            a.mode = Mode::Xsave(mask);
        }
    }
    match a.mode {
        Mode::Xsave(m) if m & 4 != 0 => "XSAVE (x87, SSE, AVX)",
        Mode::Xsave(_) => "XSAVE (x87, SSE)",
        Mode::Fx => "FXSAVE (x87, SSE)",
    }
}

fn save_into(mode: Mode, s: &mut State) {
    let p = s.area.as_mut_ptr();
    // SAFETY: `p` is a 64-byte aligned buffer of AREA_BYTES, at least the
    // size XSAVE reports for the enabled mask (checked in init) or FXSAVE's
    // 512; the instructions only write there.
    unsafe {
        match mode {
            Mode::Fx => {
                core::arch::asm!(".byte 0x48, 0x0f, 0xae, 0x07", in("rdi") p, options(nostack))
            }
            Mode::Xsave(m) => core::arch::asm!(
                ".byte 0x48, 0x0f, 0xae, 0x27", // xsave64 [rdi]
                in("rdi") p, in("eax") m as u32, in("edx") (m >> 32) as u32, options(nostack)
            ),
        }
        s.fs = Msr::new(MSR_FS_BASE).read();
        s.gs = Msr::new(MSR_GS_BASE).read();
    }
}

fn restore_from(mode: Mode, s: &State) {
    let p = s.area.as_ptr();
    // SAFETY: `p` holds an image FXSAVE/XSAVE wrote with the same mode
    // (every area starts as a copy of `clean`); the bases are user
    // addresses checked when set (`set_bases`) or read back from the CPU.
    unsafe {
        match mode {
            Mode::Fx => {
                core::arch::asm!(".byte 0x48, 0x0f, 0xae, 0x0f", in("rdi") p, options(nostack))
            }
            Mode::Xsave(m) => core::arch::asm!(
                ".byte 0x48, 0x0f, 0xae, 0x2f", // xrstor64 [rdi]
                in("rdi") p, in("eax") m as u32, in("edx") (m >> 32) as u32, options(nostack)
            ),
        }
        Msr::new(MSR_FS_BASE).write(s.fs);
        Msr::new(MSR_GS_BASE).write(s.gs);
    }
}

/// Enables the chosen state components and records the clean state every
/// environment starts from: x87 initialized, SSE exceptions masked.
fn prepare(a: &mut All) {
    if a.ready {
        return;
    }
    a.ready = true;
    let mxcsr: u32 = 0x1f80;
    // SAFETY: XCR0 gets only bits CPUID 0xD reports (x87 always among
    // them), with CR4.OSXSAVE set by `init`; fninit and ldmxcsr only set
    // FPU/SSE control state, which no environment owns yet.
    unsafe {
        if let Mode::Xsave(mask) = a.mode {
            core::arch::asm!(
                ".byte 0x0f, 0x01, 0xd1", // xsetbv
                in("ecx") 0, in("eax") mask as u32, in("edx") (mask >> 32) as u32
            );
        }
        core::arch::asm!(
            ".byte 0xdb, 0xe3",       // fninit
            ".byte 0x0f, 0xae, 0x10", // ldmxcsr [rax]
            in("rax") &mxcsr, options(nostack)
        );
    }
    save_into(a.mode, &mut a.clean);
}

/// Puts environment `slot`'s state in the CPU (saving the one there).
pub fn switch_to(slot: usize) {
    let a = all();
    if a.owner == slot || slot >= NENV {
        return;
    }
    if a.owner != 0 {
        let owner = a.owner;
        save_into(a.mode, &mut a.envs[owner]);
    }
    restore_from(a.mode, &a.envs[slot]);
    a.owner = slot;
}

/// A new environment in `slot` starts from the clean state.
pub fn reset(slot: usize) {
    let a = all();
    if slot >= NENV {
        return;
    }
    prepare(a);
    if a.owner == slot {
        a.owner = 0;
    }
    a.envs[slot].area = a.clean.area;
    a.envs[slot].fs = 0;
    a.envs[slot].gs = 0;
}

/// Sets the running environment's FS and GS bases (user addresses).
pub fn set_bases(slot: usize, fs: u64, gs: u64) {
    switch_to(slot);
    // SAFETY: the caller checked both are user addresses; they are the
    // running environment's and are saved with its state.
    unsafe {
        Msr::new(MSR_FS_BASE).write(fs);
        Msr::new(MSR_GS_BASE).write(gs);
    }
}
