//! Guest-physical layout for PVH and Linux boot: boot structures below 1 MiB, the
//! kernel from 1 MiB, the initrd at the top of RAM.

use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, XEN_HVM_MEMMAP_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RESERVED,
};

/// A GDT matching the initial PVH segment state (for the CPU's benefit).
pub const BOOT_GDT: u64 = 0x500;
/// The PVH start info, module list and memory map.
pub const START_INFO: u64 = 0x6000;
pub const MODLIST: u64 = 0x6040;
pub const MEMMAP: u64 = 0x7000;
/// A Linux guest's zero page (struct boot_params, 4 KiB).
pub const ZERO_PAGE: u64 = 0x8000;
/// The kernel command line, and its longest length.
pub const CMDLINE: u64 = 0x20000;
pub const CMDLINE_MAX: usize = 4096;
/// Where low RAM ends and the BIOS area begins.
pub const EBDA_START: u64 = 0x9fc00;
/// Start of high memory, where the kernel loads.
pub const HIGHMEM: u64 = 0x10_0000;

/// The e820 map of a guest with `mem` bytes of RAM.
pub fn memmap(mem: u64) -> Vec<hvm_memmap_table_entry> {
    let e = |addr: u64, size: u64, type_| hvm_memmap_table_entry {
        addr,
        size,
        type_,
        reserved: 0,
    };
    vec![
        e(0, EBDA_START, XEN_HVM_MEMMAP_TYPE_RAM),
        e(
            EBDA_START,
            HIGHMEM - EBDA_START,
            XEN_HVM_MEMMAP_TYPE_RESERVED,
        ),
        e(HIGHMEM, mem - HIGHMEM, XEN_HVM_MEMMAP_TYPE_RAM),
    ]
}

/// Where an initrd of `size` bytes goes: page-aligned at the top of RAM,
/// above `kernel_end`; None if it does not fit.
pub fn initrd_addr(mem: u64, kernel_end: u64, size: u64) -> Option<u64> {
    let addr = mem.checked_sub(size)? & !0xfff;
    (addr >= kernel_end.div_ceil(0x1000) * 0x1000).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e820_covers_ram_and_reserves_the_bios_area() {
        let m = memmap(64 << 20);
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].addr, m[0].size, m[0].type_),
            (0, EBDA_START, XEN_HVM_MEMMAP_TYPE_RAM)
        );
        assert_eq!(m[1].type_, XEN_HVM_MEMMAP_TYPE_RESERVED);
        assert_eq!(m[2].addr + m[2].size, 64 << 20);
        assert!(
            START_INFO + 56 <= MODLIST
                && MODLIST + 32 <= MEMMAP
                && CMDLINE + CMDLINE_MAX as u64 <= EBDA_START
        );
    }

    #[test]
    fn initrd_goes_on_top_if_it_fits() {
        assert_eq!(
            initrd_addr(64 << 20, 0x20_0000, 0x1800),
            Some((64 << 20) - 0x2000)
        );
        assert_eq!(initrd_addr(16 << 20, 0x20_0000, 15 << 20), None);
        assert_eq!(initrd_addr(16 << 20, 0x20_0000, 32 << 20), None);
    }
}
