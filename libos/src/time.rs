//! Time: ticks of the kernel's timer and sleeping on them.

use crate::{info, sys};
use exo_abi::wakeup::{WkTerm, CMP_GE, TERM_TICKS};

/// Sleeps for `n` timer ticks.
pub fn sleep_ticks(n: u64) {
    let until = sys::ticks() + n;
    while sys::ticks() < until {
        let _ = sys::wakeup(&[WkTerm {
            kind: TERM_TICKS,
            cmp: CMP_GE,
            value: until,
            ..WkTerm::default()
        }]);
    }
}

/// Milliseconds since boot.
pub fn uptime_ms() -> u64 {
    let hz = info::sysinfo().hz.max(1);
    sys::ticks() * 1000 / hz
}
