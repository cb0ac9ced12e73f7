//! The PVH start info (`hvm_start_info`) the VMM or QEMU hands us: command
//! line, physical memory map and the initrd module.

use exo_abi::boot::KERNEL_BASE;

const START_MAGIC: u32 = 0x336e_c578;
pub const MAX_REGIONS: usize = 64;
const E820_RAM: u32 = 1;

#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
struct Module {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[repr(C)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// A physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// What the kernel keeps from the start info.
pub struct BootInfo {
    pub ram: [Range; MAX_REGIONS],
    pub ram_count: usize,
    pub initrd: Option<Range>,
    pub cmdline: &'static str,
    /// Ranges the loader put our boot data in, to keep out of the allocator.
    pub boot_data: [Range; 4],
}

fn phys<T>(addr: u64) -> *const T {
    (KERNEL_BASE + addr) as *const T
}

/// Reads the start info at `addr`, reachable through the boot mapping of the
/// first 4 GiB. Stops the machine if it is not a PVH start info.
pub fn parse(addr: u64) -> BootInfo {
    // SAFETY: the boot ABI guarantees a start info at `addr`; all pointers in
    // it are below 4 GiB, which the boot page tables map at KERNEL_BASE.
    unsafe {
        let si = &*phys::<StartInfo>(addr);
        if si.magic != START_MAGIC {
            crate::kprintln!("exo: bad PVH start info magic {:#x}", si.magic);
            crate::machine::exit(exo_abi::boot::exit::KERNEL_PANIC);
        }
        let mut info = BootInfo {
            ram: [Range::default(); MAX_REGIONS],
            ram_count: 0,
            initrd: None,
            cmdline: "",
            boot_data: [Range::default(); 4],
        };
        info.boot_data[0] = Range {
            start: addr,
            end: addr + 64,
        };
        if si.version >= 1 && si.memmap_entries > 0 {
            let n = si.memmap_entries as usize;
            let map = core::slice::from_raw_parts(phys::<MemmapEntry>(si.memmap_paddr), n);
            info.boot_data[1] = Range {
                start: si.memmap_paddr,
                end: si.memmap_paddr + (n * core::mem::size_of::<MemmapEntry>()) as u64,
            };
            for e in map.iter().filter(|e| e.kind == E820_RAM && e.size > 0) {
                if info.ram_count == MAX_REGIONS {
                    crate::kprintln!("exo: more than {MAX_REGIONS} RAM regions; ignoring the rest");
                    break;
                }
                info.ram[info.ram_count] = Range {
                    start: e.addr,
                    end: e.addr.saturating_add(e.size),
                };
                info.ram_count += 1;
            }
        }
        if si.nr_modules > 0 && si.modlist_paddr != 0 {
            let m = &*phys::<Module>(si.modlist_paddr);
            info.boot_data[2] = Range {
                start: si.modlist_paddr,
                end: si.modlist_paddr + 32,
            };
            if m.size > 0 {
                info.initrd = Some(Range {
                    start: m.paddr,
                    end: m.paddr + m.size,
                });
            }
        }
        if si.cmdline_paddr != 0 {
            let p = phys::<u8>(si.cmdline_paddr);
            let mut len = 0;
            while len < 4096 && *p.add(len) != 0 {
                len += 1;
            }
            let bytes = core::slice::from_raw_parts(p, len);
            info.cmdline = core::str::from_utf8(bytes).unwrap_or("");
            info.boot_data[3] = Range {
                start: si.cmdline_paddr,
                end: si.cmdline_paddr + len as u64 + 1,
            };
        }
        info
    }
}
