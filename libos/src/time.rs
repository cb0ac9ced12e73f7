//! Time: ticks of the kernel's timer and sleeping on them.

use crate::{info, sys};
use exo_abi::wakeup::{WkTerm, CMP_GE};

/// Sleeps for `n` timer ticks.
pub fn sleep_ticks(n: u64) {
    let until = sys::ticks() + n;
    while sys::ticks() < until {
        let _ = sys::wakeup(&[WkTerm::ticks(CMP_GE, until)]);
    }
}

/// Milliseconds since boot.
pub fn uptime_ms() -> u64 {
    let hz = info::sysinfo().hz.max(1);
    sys::ticks() * 1000 / hz
}

/// The CPU's time-stamp counter.
pub fn tsc() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Microseconds in `cycles` of the time-stamp counter (as calibrated by the kernel).
pub fn tsc_to_us(cycles: u64) -> u64 {
    let per_ms = info::sysinfo().tsc_per_ms.max(1);
    (cycles as u128 * 1000 / per_ms as u128) as u64
}
