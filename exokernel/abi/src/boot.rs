//! Boot conventions between the VMM (or QEMU) and the kernel.

/// I/O port of the debug-exit device: a byte written here ends the VM and
/// becomes the exit status of `exo run` (QEMU's `isa-debug-exit` at the same
/// port reports `(byte << 1) | 1`; the QEMU engine translates it back).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// COM1, the serial console (16550 UART), and its ISA interrupt line.
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_IRQ: u32 = 4;

/// Exit statuses the kernel itself reports through the debug-exit port. All
/// are below 128: QEMU's debug-exit device keeps only 7 bits of the byte.
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
