//! The 8254 PIT, used once at boot as a known clock to calibrate the LAPIC
//! timer and the TSC. Channel 0 counts down with its interrupt masked and is
//! read back with latch commands (no speaker port: QEMU's microvm has none).

use x86_64::instructions::port::Port;

const PIT_HZ: u64 = 1_193_182;

fn read_counter() -> u16 {
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch0: Port<u8> = Port::new(0x40);
    // SAFETY: latching and reading channel 0 has no side effects.
    unsafe {
        cmd.write(0x00); // latch channel 0
        let lo = ch0.read() as u16;
        let hi = ch0.read() as u16;
        lo | (hi << 8)
    }
}

/// Runs `start()` then busy-waits `ms` (at most 50) milliseconds on the PIT,
/// and returns false if the PIT does not count (no PIT on this machine).
pub fn wait_ms(ms: u64, start: impl FnOnce()) -> bool {
    let ticks = PIT_HZ * ms.min(50) / 1000;
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch0: Port<u8> = Port::new(0x40);
    // SAFETY: channel 0 in mode 0 with its interrupt line masked at the PICs
    // and not routed by the IOAPIC: it only counts.
    unsafe {
        cmd.write(0x30); // channel 0, lobyte/hibyte, mode 0
        ch0.write(0xff);
        ch0.write(0xff);
    }
    let first = read_counter();
    start();
    // Bound the wait so a missing PIT cannot hang the boot.
    for _ in 0..50_000_000u64 {
        let now = read_counter();
        if now > first {
            return false; // wrapped: not a counting PIT
        }
        if (first - now) as u64 >= ticks {
            return true;
        }
    }
    false
}
