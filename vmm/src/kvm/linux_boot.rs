//! Puts a Linux bzImage in memory for the 32-bit boot protocol
//! (Documentation/arch/x86/boot.rst), as Firecracker does: the protected-mode
//! kernel at 1 MiB (linux-loader), the zero page with the setup header, the
//! command line, the initrd, the e820 map, an MP table and ACPI tables naming
//! the virtio-mmio devices. The vCPU then starts in the
//! same flat 32-bit state as for PVH, with %esi pointing at the zero page.

use super::boot::{Entry, Protocol};
use super::layout::*;
use super::Error;
use crate::config::RunConfig;
use linux_loader::configurator::linux::LinuxBootConfigurator;
use linux_loader::configurator::{BootConfigurator, BootParams};
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params};
use linux_loader::loader::{BzImage, Cmdline, KernelLoader};
use std::fs::File;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// setup_header.type_of_loader: a boot loader with no assigned id.
const LOADER_OTHER: u8 = 0xff;
/// setup_header.loadflags: the kernel may use the heap up to heap_end_ptr;
/// 0x01 (LOADED_HIGH) is the image's own, kept.
const CAN_USE_HEAP: u8 = 0x80;
/// The highest address Linux accepts an initrd at when its header says nothing.
const INITRD_ADDR_MAX_DEFAULT: u64 = 0x37ff_ffff;

/// Loads the bzImage, initrd and command line `cfg` names into `mem`.
pub fn load(
    mem: &GuestMemoryMmap,
    cfg: &RunConfig,
    devices: &[super::acpi::MmioDevice],
) -> Result<Entry, Error> {
    let mut file = File::open(&cfg.kernel).map_err(|e| Error::File(cfg.kernel.clone(), e))?;
    let loaded = BzImage::load(mem, None, &mut file, Some(GuestAddress(HIGHMEM)))
        .map_err(|e| Error::Kernel(cfg.kernel.clone(), format!("cannot be loaded: {e}")))?;
    let mut hdr = loaded.setup_header.ok_or_else(|| {
        Error::Kernel(
            cfg.kernel.clone(),
            "no setup header (not a bzImage?)".into(),
        )
    })?;

    let mut cmdline = Cmdline::new(CMDLINE_MAX).map_err(|e| Error::Cmdline(e.to_string()))?;
    if !cfg.cmdline.trim().is_empty() {
        cmdline
            .insert_str(cfg.cmdline.trim())
            .map_err(|e| Error::Cmdline(e.to_string()))?;
    }
    let cstring = cmdline
        .as_cstring()
        .map_err(|e| Error::Cmdline(e.to_string()))?;
    let cmd_bytes = cstring.as_bytes_with_nul();
    let limit = { hdr.cmdline_size } as usize;
    if limit != 0 && cmd_bytes.len() > limit + 1 {
        return Err(Error::Cmdline(format!(
            "{} bytes, more than this kernel's {limit}",
            cmd_bytes.len() - 1
        )));
    }
    mem.write_slice(cmd_bytes, GuestAddress(CMDLINE))
        .map_err(|e| Error::Memory(e.to_string()))?;

    hdr.type_of_loader = LOADER_OTHER;
    hdr.loadflags |= CAN_USE_HEAP;
    hdr.heap_end_ptr = 0xfe00;
    hdr.cmd_line_ptr = CMDLINE as u32;
    hdr.cmdline_size = cmd_bytes.len() as u32;
    if let Some(path) = &cfg.initrd {
        let addr_max = hdr.initrd_addr_max;
        let max = match addr_max {
            0 => INITRD_ADDR_MAX_DEFAULT,
            m => m as u64,
        };
        let top = cfg.mem_bytes.min(max + 1);
        let (addr, size) = super::boot::load_initrd(mem, cfg, path, top, loaded.kernel_end)?;
        hdr.ramdisk_image = addr as u32;
        hdr.ramdisk_size = size as u32;
    }

    let mut params = boot_params {
        hdr,
        ..Default::default()
    };
    let map = memmap(cfg.mem_bytes);
    for (slot, e) in params.e820_table.iter_mut().zip(&map) {
        *slot = boot_e820_entry {
            addr: e.addr,
            size: e.size,
            r#type: e.type_,
        };
    }
    params.e820_entries = map.len() as u8;
    // The interrupt controllers and devices: ACPI for kernels that have it
    // (found through the zero page), the MP table for those that do not.
    params.acpi_rsdp_addr = super::acpi::write(mem, devices)?;
    LinuxBootConfigurator::write_bootparams::<GuestMemoryMmap>(
        &BootParams::new(&params, GuestAddress(ZERO_PAGE)),
        mem,
    )
    .map_err(|e| Error::Memory(e.to_string()))?;
    super::boot::write_gdt(mem)?;
    super::mptable::write(mem)?;
    Ok(Entry {
        rip: loaded.kernel_load.0,
        start_info: ZERO_PAGE,
        protocol: Protocol::Linux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::boot::tests::{cleanup, temp};
    use vm_memory::GuestMemoryMmap;

    /// A minimal bzImage: one setup sector after the boot sector, the setup
    /// header (boot protocol 2.15, loaded high), then `code` as the
    /// protected-mode kernel.
    fn bzimage(code: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 1024];
        b[0x1f1] = 1; // setup_sects
        b[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        b[0x211] = 1; // loadflags: LOADED_HIGH
        b[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes()); // code32_start
        b[0x238..0x23c].copy_from_slice(&2047u32.to_le_bytes()); // cmdline_size
        b.extend_from_slice(code);
        b
    }

    fn cfg(kernel: std::path::PathBuf, initrd: Option<std::path::PathBuf>) -> RunConfig {
        RunConfig {
            kernel,
            initrd,
            mem_bytes: 64 << 20,
            cmdline: "console=ttyS0 rdinit=/init -- micro".into(),
            disks: vec![],
            nets: vec![],
            gdb: None,
            trace: None,
            icount: false,
        }
    }

    #[test]
    fn fills_the_zero_page_for_the_32_bit_entry() {
        let k = temp("bz1", &bzimage(&[0xf4; 32]));
        let rd = temp("bzrd1", b"initramfs");
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
        let entry = load(&mem, &cfg(k, Some(rd)), &[]).unwrap();
        cleanup(&["bz1", "bzrd1"]);
        assert_eq!(
            entry,
            Entry {
                rip: 0x10_0000,
                start_info: ZERO_PAGE,
                protocol: Protocol::Linux
            }
        );
        assert_eq!(mem.read_obj::<u8>(GuestAddress(0x10_0000)).unwrap(), 0xf4);
        let p: boot_params = mem.read_obj(GuestAddress(ZERO_PAGE)).unwrap();
        let hdr = p.hdr;
        assert_eq!(
            ({ hdr.type_of_loader }, { hdr.cmd_line_ptr }, {
                hdr.ramdisk_size
            }),
            (LOADER_OTHER, CMDLINE as u32, 9)
        );
        let mut rd = [0u8; 9];
        mem.read_slice(&mut rd, GuestAddress({ hdr.ramdisk_image } as u64))
            .unwrap();
        assert_eq!(&rd, b"initramfs");
        assert_eq!(p.e820_entries, 3);
        let top = p.e820_table[2];
        assert_eq!({ top.addr } + { top.size }, 64 << 20);
        let mut cl = vec![0u8; { hdr.cmdline_size } as usize];
        mem.read_slice(&mut cl, GuestAddress(CMDLINE)).unwrap();
        assert_eq!(&cl, b"console=ttyS0 rdinit=/init -- micro\0");
        let mut mp = [0u8; 4];
        mem.read_slice(&mut mp, GuestAddress(crate::kvm::mptable::MPTABLE_START))
            .unwrap();
        assert_eq!(&mp, b"_MP_");
    }

    #[test]
    fn refuses_a_command_line_longer_than_the_kernel_takes() {
        let mut image = bzimage(&[0xf4]);
        image[0x238..0x23c].copy_from_slice(&16u32.to_le_bytes());
        let k = temp("bz2", &image);
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
        let e = load(&mem, &cfg(k, None), &[]).unwrap_err().to_string();
        cleanup(&["bz2"]);
        assert!(e.contains("more than this kernel's 16"), "{e}");
    }
}
