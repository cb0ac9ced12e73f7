//! The 8254 PIT, used once at boot as a known clock to calibrate the LAPIC
//! timer and the TSC (channel 2, gated through port 0x61, no interrupt).

use x86_64::instructions::port::Port;

const PIT_HZ: u64 = 1_193_182;

/// Runs `start()` then busy-waits `ms` milliseconds on PIT channel 2, and
/// returns false if the PIT never counted down (no PIT on this machine).
pub fn wait_ms(ms: u64, start: impl FnOnce()) -> bool {
    let count = (PIT_HZ * ms / 1000).min(0xffff) as u16;
    let mut gate: Port<u8> = Port::new(0x61);
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch2: Port<u8> = Port::new(0x42);
    // SAFETY: the PIT and the system control port are standard PC devices;
    // only channel 2 (the speaker channel, speaker output off) is touched.
    unsafe {
        let g = gate.read() & !0x03;
        gate.write(g); // gate low: hold the counter
        cmd.write(0xb0); // channel 2, lobyte/hibyte, mode 0 (terminal count)
        ch2.write(count as u8);
        ch2.write((count >> 8) as u8);
        start();
        gate.write(g | 0x01); // gate high: count down
                              // Bound the wait so a missing PIT cannot hang the boot.
        for _ in 0..200_000_000u64 {
            if gate.read() & 0x20 != 0 {
                return true;
            }
        }
    }
    false
}
