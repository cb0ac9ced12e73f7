//! Boot conventions between the VMM (or QEMU) and the kernel.

/// I/O port of the debug-exit device: a byte written here ends the VM and
/// becomes the exit status of `exo run` (QEMU's `isa-debug-exit` at the same
/// port reports `(byte << 1) | 1`; the QEMU engine translates it back).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// COM1, the serial console (16550 UART), and its ISA interrupt line.
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_IRQ: u32 = 4;

/// Exit statuses the kernel itself gives. Those it can report through the
/// debug-exit port (when the first environment ends with them) are below
/// 128, since QEMU's debug-exit device keeps only 7 bits of the byte;
/// `DESTROYED` is only recorded in the environment table.
pub mod exit {
    /// The kernel panicked or took an exception in kernel mode.
    pub const KERNEL_PANIC: u8 = 0x7f;
    /// Status recorded for an environment ended by one that controls it.
    pub const DESTROYED: u8 = 137;
    /// An environment ended by an unhandled fault: `FAULT_BASE + vector`.
    pub const FAULT_BASE: u8 = 0x40;
    /// The kernel could not start the first program (missing, bad ELF, ...).
    pub const NO_INIT: u8 = 0x7e;
}

/// Base of the kernel's region: the top PML4 slot of the lower half (slot 255).
/// All physical memory is mapped here (`virt = KERNEL_BASE + phys`); see
/// [`crate::layout`] for the rest of the address space.
pub const KERNEL_BASE: u64 = 0x0000_7f80_0000_0000;

/// Default path of the first program inside the initrd (`exo.init=` overrides).
pub const DEFAULT_INIT: &str = "/bin/init";

/// Keys of the kernel command line that are ours (beside the Linux
/// convention `virtio_mmio.device=`), written `key=value` and separated by
/// spaces; the VMM writes them and the kernel reads them.
pub mod cmdline {
    /// Path of the first program in the initrd.
    pub const INIT: &str = "exo.init";
    /// Its arguments, separated by commas.
    pub const ARGS: &str = "exo.args";
    /// Timer interrupts per second.
    pub const HZ: &str = "exo.hz";
    /// `boot`: stop with status 0 once booted.
    pub const STOP: &str = "exo.stop";
    /// `<gpa>,<size>[,<classes>]`: the trace ring.
    pub const TRACE: &str = "exo.trace";
    /// `interp`: classify packets with the trie interpreter, not the JIT.
    pub const DPF: &str = "exo.dpf";
    /// `unchecked`: run XN without UDF checks (a measurement aid).
    pub const XN: &str = "exo.xn";
    /// Read sector 0 of the disk at boot.
    pub const BLKCHECK: &str = "exo.blkcheck";
    /// Send one broadcast frame at boot.
    pub const NETCHECK: &str = "exo.netcheck";
    /// `1`: the console carries only what programs write, and the kernel's
    /// errors (no boot or exit messages).
    pub const QUIET: &str = "exo.quiet";
    /// `1`: the console is a user's terminal (the VMM's standard input is
    /// one), as `SysInfo::console_terminal` tells programs.
    pub const TTY: &str = "exo.tty";
    /// `stack`: overflow the kernel stack at boot, to show the guard page
    /// turns it into a reported fault (a test aid).
    pub const CRASH: &str = "exo.crash";

    /// The value of `key` in `cmdline` (the first occurrence).
    pub fn value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
        cmdline
            .split_ascii_whitespace()
            .filter_map(|w| w.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn values_by_key() {
            let c = "console=ttyS0 exo.init=/bin/sh exo.hz=250 exo.init=/bin/x";
            assert_eq!(super::value(c, super::INIT), Some("/bin/sh"));
            assert_eq!(super::value(c, super::HZ), Some("250"));
            assert_eq!(super::value(c, super::STOP), None);
        }
    }
}
