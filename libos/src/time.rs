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
