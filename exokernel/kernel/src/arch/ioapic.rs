//! The I/O APIC: routes a device's interrupt line (GSI) to a vector on this
//! CPU. Lines start masked; only lines a driver asks for are opened.

use crate::mem::{paging, phys_to_virt};

/// Where the (first) I/O APIC's registers are, on QEMU microvm and on our
/// VMM's in-kernel irqchip alike.
const IOAPIC_PHYS: u64 = 0xfec0_0000;
const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
/// Redirection table entries 0..24.
const MAX_GSI: u32 = 24;

fn write(reg: u32, v: u32) {
    let base = phys_to_virt(IOAPIC_PHYS);
    // SAFETY: the I/O APIC window is mapped uncached by `route`; the index
    // register selects a register, the data window writes it.
    unsafe {
        (base.add(IOREGSEL) as *mut u32).write_volatile(reg);
        (base.add(IOWIN) as *mut u32).write_volatile(v);
    }
}

/// Delivers line `gsi` as `vector` to the boot CPU (LAPIC id 0), edge
/// triggered, active high.
pub fn route(gsi: u32, vector: u8) -> Result<(), &'static str> {
    if gsi >= MAX_GSI {
        return Err("interrupt line out of the I/O APIC's range");
    }
    paging::map_mmio(IOAPIC_PHYS, 0x20).map_err(|_| "cannot map the I/O APIC")?;
    write(0x10 + 2 * gsi + 1, 0); // destination: APIC id 0
    write(0x10 + 2 * gsi, vector as u32); // fixed, physical, edge, high, unmasked
    Ok(())
}
