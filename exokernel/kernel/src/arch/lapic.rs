//! Local APIC (xAPIC, memory-mapped): the periodic timer that drives time
//! slices, calibrated against the PIT.

use super::{cpu, pit};
use exo_abi::boot::KERNEL_BASE;

pub const LAPIC_PHYS: u64 = 0xfee0_0000;
pub const TIMER_VECTOR: u8 = 32;
/// The network device's receive interrupt (routed by the I/O APIC).
pub const NET_VECTOR: u8 = 48;
pub const SPURIOUS_VECTOR: u8 = 0xff;

const REG_TPR: usize = 0x80;
const REG_EOI: usize = 0xb0;
const REG_SVR: usize = 0xf0;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INIT: usize = 0x380;
const REG_TIMER_CUR: usize = 0x390;
const REG_TIMER_DIV: usize = 0x3e0;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;

fn reg(off: usize) -> *mut u32 {
    (KERNEL_BASE + LAPIC_PHYS + off as u64) as *mut u32
}

fn read(off: usize) -> u32 {
    // SAFETY: the LAPIC page is mapped uncached in the kernel region.
    unsafe { reg(off).read_volatile() }
}

fn write(off: usize, v: u32) {
    // SAFETY: as above.
    unsafe { reg(off).write_volatile(v) }
}

/// Timer calibration, found at boot.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// LAPIC timer ticks (divide by 16) per millisecond.
    pub lapic_per_ms: u32,
    /// TSC cycles per millisecond (0 if unknown).
    pub tsc_per_ms: u64,
}

/// Enables the LAPIC, calibrates its timer and starts it periodic at `hz`.
pub fn init(hz: u32) -> Clock {
    write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(REG_TPR, 0);
    write(REG_TIMER_DIV, 0x3); // divide by 16
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);

    let clock = match measure() {
        Some(clock) => clock,
        None => {
            crate::kprintln!(
                "exo: no PIT to calibrate the LAPIC timer; assuming the 1 GHz APIC bus of KVM and QEMU"
            );
            Clock {
                lapic_per_ms: 1_000_000 / 16,
                tsc_per_ms: 0,
            }
        }
    };
    let clock = stated(clock);
    write(REG_TIMER_INIT, 0);
    write(REG_LVT_TIMER, LVT_PERIODIC | TIMER_VECTOR as u32);
    write(
        REG_TIMER_INIT,
        (clock.lapic_per_ms * 1000 / hz.max(1)).max(1),
    );
    clock
}

/// Measures the LAPIC timer and the TSC against the PIT: the median of a few
/// short rounds, so that one round stretched by the host (a vCPU thread
/// descheduled mid-round) does not set the clock. None without a PIT.
fn measure() -> Option<Clock> {
    const CAL_MS: u64 = 10;
    const ROUNDS: usize = 5;
    let mut lapic = [0u64; ROUNDS];
    let mut tsc = [0u64; ROUNDS];
    for i in 0..ROUNDS {
        let mut tsc0 = 0;
        let ok = pit::wait_ms(CAL_MS, || {
            write(REG_TIMER_INIT, u32::MAX);
            tsc0 = cpu::rdtsc();
        });
        let elapsed = u32::MAX - read(REG_TIMER_CUR);
        if !ok || elapsed == 0 {
            return None;
        }
        lapic[i] = elapsed as u64 / CAL_MS;
        tsc[i] = (cpu::rdtsc() - tsc0) / CAL_MS;
    }
    lapic.sort_unstable();
    tsc.sort_unstable();
    Some(Clock {
        lapic_per_ms: lapic[ROUNDS / 2].clamp(1, u32::MAX as u64) as u32,
        tsc_per_ms: tsc[ROUNDS / 2],
    })
}

/// The frequencies the platform states (CPUID), where it does, in place of
/// the PIT measurement, which a busy host can skew (the PIT's and the
/// TSC's time pass at different rates when an emulator or a hypervisor
/// runs late); a measurement far from the stated figure is reported.
fn stated(measured: Clock) -> Clock {
    let (tsc_khz, apic_khz) = cpu::stated_khz();
    let mut c = measured;
    if let Some(khz) = tsc_khz {
        c.tsc_per_ms = khz;
    }
    if let Some(khz) = apic_khz {
        c.lapic_per_ms = (khz / 16).clamp(1, u32::MAX as u64) as u32;
    }
    let off = |m: u64, s: u64| m != 0 && (m.abs_diff(s) * 4 > s);
    if off(measured.tsc_per_ms, c.tsc_per_ms)
        || off(measured.lapic_per_ms as u64, c.lapic_per_ms as u64)
    {
        // Informational (the stated figures are used): not under -q, whose
        // console carries only what programs print.
        crate::kinfo!(
            "exo: clock: the PIT measured TSC {} MHz, LAPIC {}/ms; the platform states TSC {} MHz, LAPIC {}/ms (used)",
            measured.tsc_per_ms / 1000,
            measured.lapic_per_ms,
            c.tsc_per_ms / 1000,
            c.lapic_per_ms
        );
    }
    c
}

/// Signals the end of an interrupt to the LAPIC.
pub fn eoi() {
    write(REG_EOI, 0);
}
