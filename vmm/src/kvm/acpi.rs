//! ACPI tables for a Linux guest (hardware-reduced, as Firecracker and
//! QEMU's microvm give them): RSDP -> XSDT -> FADT -> DSDT and MADT. The
//! DSDT names each virtio-mmio window with its interrupt, because a
//! distribution kernel finds virtio-mmio devices only there (Debian's is
//! built without VIRTIO_MMIO_CMDLINE_DEVICES, so `virtio_mmio.device=` on
//! the command line does nothing). The MADT gives one local APIC and KVM's
//! in-kernel IOAPIC.

use super::mptable::{IOAPIC_ADDR, IOAPIC_ID, LAPIC_ADDR};
use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::madt::{
    EnabledStatus, IoApic, LocalInterruptController, ProcessorLocalApic, MADT,
};
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::{aml, Aml, AmlSink};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Where the tables go: the RSDP first, in the BIOS area Linux searches
/// (and the zero page also points at it), inside the e820 map's reserved range.
pub const RSDP_START: u64 = 0xe_0000;
/// The end of the room the tables have (the BIOS area ends at 1 MiB).
const TABLES_END: u64 = super::layout::HIGHMEM;
const OEM_ID: [u8; 6] = *b"EXOVMM";
const OEM_REVISION: u32 = 1;
/// FADT IAPC_BOOT_ARCH: no VGA, no MSI, and (bit 1 clear) no i8042.
const BOOT_ARCH_NO_VGA: u16 = 1 << 2;
const BOOT_ARCH_NO_MSI: u16 = 1 << 3;
/// The serial port the console is on (ttyS0).
const COM1_PORT: u16 = 0x3f8;
const COM1_IRQ: u32 = 4;

/// One virtio-mmio window and its interrupt line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioDevice {
    pub base: u64,
    pub size: u64,
    pub gsi: u32,
}

fn aml_bytes(a: &dyn Aml) -> Vec<u8> {
    let mut v = Vec::new();
    a.to_aml_bytes(&mut v);
    v
}

/// The DSDT: COM1 and each virtio-mmio device under \_SB.
fn dsdt(devices: &[MmioDevice]) -> Vec<u8> {
    let mut body = Vec::new();
    let com1_ports = aml::IO::new(COM1_PORT, COM1_PORT, 1, 8);
    let com1_irq = aml::Interrupt::new(true, true, false, false, COM1_IRQ);
    let com1_crs = aml::ResourceTemplate::new(vec![&com1_ports, &com1_irq]);
    let com1_hid = aml::EISAName::new("PNP0501");
    body.extend(aml_bytes(&aml::Device::new(
        "COM1".into(),
        vec![
            &aml::Name::new("_HID".into(), &com1_hid),
            &aml::Name::new("_UID".into(), &aml::ZERO),
            &aml::Name::new("_CRS".into(), &com1_crs),
        ],
    )));
    for (i, d) in devices.iter().enumerate() {
        // Memory32Fixed: the windows sit below 4 GiB (MMIO_BASE).
        let window = aml::Memory32Fixed::new(true, d.base as u32, d.size as u32);
        let irq = aml::Interrupt::new(true, true, false, false, d.gsi);
        let crs = aml::ResourceTemplate::new(vec![&window, &irq]);
        let uid = i as u32;
        body.extend(aml_bytes(&aml::Device::new(
            format!("V{i:03X}").as_str().into(),
            vec![
                &aml::Name::new("_HID".into(), &"LNRO0005"),
                &aml::Name::new("_UID".into(), &uid),
                &aml::Name::new("_CRS".into(), &crs),
            ],
        )));
    }
    let mut sdt = Sdt::new(*b"DSDT", 36, 6, OEM_ID, *b"EXODSDT ", OEM_REVISION);
    let scope = ScopeBytes(body);
    sdt.append_slice(&aml_bytes(&aml::Scope::new("_SB_".into(), vec![&scope])));
    sdt.update_checksum();
    sdt.as_slice().to_vec()
}

/// Already-encoded AML, to put inside a scope.
struct ScopeBytes(Vec<u8>);

impl Aml for ScopeBytes {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.vec(&self.0);
    }
}

fn fadt(dsdt_at: u64) -> Vec<u8> {
    let mut b = FADTBuilder::new(OEM_ID, *b"EXOFACP ", OEM_REVISION)
        .dsdt_64(dsdt_at)
        .flag(Flags::HwReducedAcpi)
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    b.iapc_boot_arch = (BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_MSI).into();
    aml_bytes(&b.finalize())
}

fn madt() -> Vec<u8> {
    let mut m = MADT::new(
        OEM_ID,
        *b"EXOAPIC ",
        OEM_REVISION,
        LocalInterruptController::Address(LAPIC_ADDR),
    );
    m.add_structure(ProcessorLocalApic::new(0, 0, EnabledStatus::Enabled));
    m.add_structure(IoApic::new(IOAPIC_ID, IOAPIC_ADDR, 0));
    aml_bytes(&m)
}

/// All tables laid out from `start`, the RSDP first.
pub fn build(start: u64, devices: &[MmioDevice]) -> Vec<u8> {
    let mut out = vec![0u8; 64]; // the RSDP, filled in last
    let place = |table: Vec<u8>, out: &mut Vec<u8>| {
        let at = start + out.len() as u64;
        out.extend(table);
        out.resize(out.len().next_multiple_of(16), 0);
        at
    };
    let dsdt_at = place(dsdt(devices), &mut out);
    let fadt_at = place(fadt(dsdt_at), &mut out);
    let madt_at = place(madt(), &mut out);
    let mut xsdt = XSDT::new(OEM_ID, *b"EXOXSDT ", OEM_REVISION);
    xsdt.add_entry(fadt_at);
    xsdt.add_entry(madt_at);
    let xsdt_at = place(aml_bytes(&xsdt), &mut out);
    let rsdp = aml_bytes(&Rsdp::new(OEM_ID, xsdt_at));
    out[..rsdp.len()].copy_from_slice(&rsdp);
    out
}

/// Writes the tables at `RSDP_START`; returns the RSDP's address.
pub fn write(mem: &GuestMemoryMmap, devices: &[MmioDevice]) -> Result<u64, super::Error> {
    let tables = build(RSDP_START, devices);
    if RSDP_START + tables.len() as u64 > TABLES_END {
        return Err(super::Error::Memory(format!(
            "ACPI tables for {} devices do not fit below 1 MiB",
            devices.len()
        )));
    }
    mem.write_slice(&tables, GuestAddress(RSDP_START))
        .map_err(|e| super::Error::Memory(e.to_string()))?;
    Ok(RSDP_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(b: &[u8]) -> u8 {
        b.iter().fold(0u8, |s, x| s.wrapping_add(*x))
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// The table at guest address `addr` in `t` (laid out from `RSDP_START`).
    fn table(t: &[u8], addr: u64) -> &[u8] {
        let off = (addr - RSDP_START) as usize;
        let len = u32_at(t, off + 4) as usize;
        &t[off..off + len]
    }

    #[test]
    fn tables_chain_from_the_rsdp_with_good_checksums() {
        let devs = [
            MmioDevice {
                base: 0xd000_0000,
                size: 0x1000,
                gsi: 5,
            },
            MmioDevice {
                base: 0xd000_1000,
                size: 0x1000,
                gsi: 6,
            },
        ];
        let t = build(RSDP_START, &devs);
        assert_eq!(&t[..8], b"RSD PTR ");
        assert_eq!(sum(&t[..20]), 0, "RSDP checksum");
        assert_eq!(sum(&t[..36]), 0, "RSDP extended checksum");
        let xsdt = table(&t, u64_at(&t, 24));
        assert_eq!(&xsdt[..4], b"XSDT");
        assert_eq!(sum(xsdt), 0);
        let entries: Vec<u64> = (36..xsdt.len())
            .step_by(8)
            .map(|o| u64_at(xsdt, o))
            .collect();
        let sigs: Vec<&[u8]> = entries.iter().map(|a| &table(&t, *a)[..4]).collect();
        assert_eq!(sigs, [b"FACP", b"APIC"]);
        for a in &entries {
            assert_eq!(sum(table(&t, *a)), 0);
        }
        let fadt = table(&t, entries[0]);
        assert_ne!(u32_at(fadt, 112) & (1 << 20), 0, "hardware-reduced");
        let dsdt = table(&t, u64_at(fadt, 140));
        assert_eq!(&dsdt[..4], b"DSDT");
        assert_eq!(sum(dsdt), 0);
        // Both windows are named, with their interrupt lines.
        let find = |needle: &[u8]| dsdt.windows(needle.len()).any(|w| w == needle);
        assert!(find(b"LNRO0005"));
        for d in devs {
            let mut irq = vec![0x89, 6, 0, 0x03, 1];
            irq.extend(d.gsi.to_le_bytes());
            assert!(find(&irq), "interrupt {} named", d.gsi);
            assert!(
                find(&(d.base as u32).to_le_bytes()),
                "window {:#x} named",
                d.base
            );
        }
        assert!(RSDP_START + t.len() as u64 <= TABLES_END);
    }
}
