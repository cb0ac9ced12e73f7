//! An Intel MultiProcessor table (MP spec 1.4) for a Linux guest: one CPU,
//! one ISA bus, KVM's in-kernel IOAPIC with ISA IRQs 0-15 on pins 0-15 (KVM's
//! default routing), and LINT0/LINT1 as ExtINT/NMI. Without it (and without
//! ACPI) Linux finds no IOAPIC and takes interrupts in virtual-wire mode,
//! which KVM's in-kernel PIC does not deliver through the local APIC.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Where the table goes: the last KiB below 640 KiB, one of the places
/// Linux searches, inside the e820 map's reserved range.
pub const MPTABLE_START: u64 = super::layout::EBDA_START;
/// Where KVM's in-kernel local APIC and IOAPIC are, and the IOAPIC's id
/// (the ACPI tables say the same).
pub(super) const LAPIC_ADDR: u32 = 0xfee0_0000;
pub(super) const IOAPIC_ADDR: u32 = 0xfec0_0000;
pub(super) const IOAPIC_ID: u8 = 1;
const ISA_IRQS: u8 = 16;

/// Makes each byte sum of `bytes` zero by setting `bytes[at]`.
fn checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    bytes[at] = 0u8.wrapping_sub(sum);
}

/// The floating pointer and configuration table, laid out from `start`.
pub fn build(start: u64) -> Vec<u8> {
    let table_at = start + 16;
    let mut entries: Vec<u8> = Vec::new();
    let mut count = 0u16;
    // Processor: local APIC 0, version 0x14, enabled and the BSP.
    entries.extend_from_slice(&[0, 0, 0x14, 0x03]);
    entries.extend_from_slice(&0x600u32.to_le_bytes()); // signature: family 6
    entries.extend_from_slice(&0x201u32.to_le_bytes()); // features: FPU, APIC
    entries.extend_from_slice(&[0; 8]);
    count += 1;
    // Bus 0: ISA.
    entries.extend_from_slice(&[1, 0]);
    entries.extend_from_slice(b"ISA   ");
    count += 1;
    // The IOAPIC, version 0x11, enabled.
    entries.extend_from_slice(&[2, IOAPIC_ID, 0x11, 1]);
    entries.extend_from_slice(&IOAPIC_ADDR.to_le_bytes());
    count += 1;
    // ISA IRQ n -> IOAPIC pin n, bus-default polarity and trigger.
    for irq in 0..ISA_IRQS {
        entries.extend_from_slice(&[3, 0, 0, 0, 0, irq, IOAPIC_ID, irq]);
        count += 1;
    }
    // LINT0 as ExtINT (the PIC), LINT1 as NMI, on every local APIC.
    entries.extend_from_slice(&[4, 3, 0, 0, 0, 0, 0xff, 0]);
    entries.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0xff, 1]);
    count += 2;

    let mut table = Vec::with_capacity(44 + entries.len());
    table.extend_from_slice(b"PCMP");
    table.extend_from_slice(&((44 + entries.len()) as u16).to_le_bytes());
    table.push(4); // spec revision 1.4
    table.push(0); // checksum
    table.extend_from_slice(b"EXO     "); // OEM id
    table.extend_from_slice(b"EXO VMM     "); // product id
    table.extend_from_slice(&0u32.to_le_bytes()); // OEM table
    table.extend_from_slice(&0u16.to_le_bytes()); // OEM table size
    table.extend_from_slice(&count.to_le_bytes());
    table.extend_from_slice(&LAPIC_ADDR.to_le_bytes());
    table.extend_from_slice(&[0; 4]); // extended table length, checksum, reserved
    table.extend_from_slice(&entries);
    checksum(&mut table, 7);

    let mut fp = Vec::with_capacity(16);
    fp.extend_from_slice(b"_MP_");
    fp.extend_from_slice(&(table_at as u32).to_le_bytes());
    fp.push(1); // length in 16-byte units
    fp.push(4); // spec revision 1.4
    fp.push(0); // checksum
    fp.extend_from_slice(&[0; 5]); // features: a configuration table follows
    checksum(&mut fp, 10);
    fp.extend_from_slice(&table);
    fp
}

/// Writes the table at `MPTABLE_START`.
pub fn write(mem: &GuestMemoryMmap) -> Result<(), super::Error> {
    mem.write_slice(&build(MPTABLE_START), GuestAddress(MPTABLE_START))
        .map_err(|e| super::Error::Memory(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(b: &[u8]) -> u8 {
        b.iter().fold(0u8, |s, x| s.wrapping_add(*x))
    }

    #[test]
    fn pointer_and_table_check_out() {
        let t = build(MPTABLE_START);
        assert_eq!(&t[..4], b"_MP_");
        assert_eq!(sum(&t[..16]), 0, "floating pointer checksum");
        let at = u32::from_le_bytes(t[4..8].try_into().unwrap()) as u64;
        let table = &t[(at - MPTABLE_START) as usize..];
        assert_eq!(&table[..4], b"PCMP");
        let len = u16::from_le_bytes([table[4], table[5]]) as usize;
        assert_eq!(len, table.len());
        assert_eq!(sum(table), 0, "configuration table checksum");
        let entries = u16::from_le_bytes([table[34], table[35]]);
        assert_eq!(entries, 1 + 1 + 1 + 16 + 2);
        assert_eq!(len, 44 + 20 + 8 * (entries as usize - 1));
        // It fits below the BIOS area's end, inside the reserved range.
        assert!(MPTABLE_START + t.len() as u64 <= 0xa0000);
    }
}
