//! Puts a PVH guest in memory: the kernel ELF (linux-loader), the initrd at
//! the top of RAM, the command line, and the PVH start info with the e820
//! map and the initrd as module 0. No vCPU is needed, so this is unit-tested
//! against plain guest memory.

use super::layout::*;
use super::Error;
use crate::config::RunConfig;
use linux_loader::cmdline::Cmdline;
use linux_loader::configurator::pvh::PvhBootConfigurator;
use linux_loader::configurator::{BootConfigurator, BootParams};
use linux_loader::loader::elf::start_info::{
    hvm_modlist_entry, hvm_start_info, XEN_HVM_START_MAGIC_VALUE,
};
use linux_loader::loader::elf::{Elf, Error as ElfError, PvhBootCapability};
use linux_loader::loader::{load_cmdline, Error as LoaderError, KernelLoader};
use std::fs::File;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Which boot protocol a kernel is entered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Xen PVH: the start info's address in %ebx.
    Pvh,
    /// Linux's 32-bit boot protocol: the zero page's address in %esi.
    Linux,
}

/// Where the vCPU starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The entry point (32-bit protected mode, paging off).
    pub rip: u64,
    /// The boot information's address (PVH start info or Linux zero page).
    pub start_info: u64,
    pub protocol: Protocol,
}

/// The initial PVH GDT: null, null, 32-bit code (0x10), data (0x18), TSS (0x20).
pub const GDT: [u64; 5] = [
    0,
    0,
    0x00cf_9b00_0000_ffff,
    0x00cf_9300_0000_ffff,
    0x0080_8b00_0000_0067,
];

fn kernel_error(cfg: &RunConfig, e: LoaderError) -> Error {
    let msg = match e {
        LoaderError::Elf(ElfError::InvalidElfMagicNumber) => {
            "not an ELF file (bad magic number)".to_string()
        }
        LoaderError::Elf(ElfError::BigEndianElfOnLittle) => {
            "a big-endian ELF; exo boots x86-64 kernels".to_string()
        }
        LoaderError::Elf(ElfError::InvalidPvhNote) => "its Xen PVH note is malformed".to_string(),
        LoaderError::Elf(ElfError::ReadElfHeader) => "too short for an ELF header".to_string(),
        LoaderError::Elf(ElfError::InvalidProgramHeaderAddress) => {
            "a segment lies outside guest memory (is --mem large enough?)".to_string()
        }
        LoaderError::Elf(ElfError::InvalidEntryAddress) => {
            "its entry point lies outside guest memory (not a PVH kernel?)".to_string()
        }
        other => format!("cannot be loaded: {other}"),
    };
    Error::Kernel(cfg.kernel.clone(), msg)
}

/// Puts the initrd at `path` page-aligned at the top of RAM below `top`,
/// above `kernel_end`; returns its address and size.
pub fn load_initrd(
    mem: &GuestMemoryMmap,
    cfg: &RunConfig,
    path: &std::path::Path,
    top: u64,
    kernel_end: u64,
) -> Result<(u64, u64), Error> {
    let data = std::fs::read(path).map_err(|e| Error::File(path.to_path_buf(), e))?;
    let size = data.len() as u64;
    let addr = initrd_addr(top, kernel_end, size).ok_or(Error::InitrdTooBig {
        path: path.to_path_buf(),
        size,
        mem: cfg.mem_bytes,
    })?;
    mem.write_slice(&data, GuestAddress(addr))
        .map_err(|e| Error::Memory(e.to_string()))?;
    Ok((addr, size))
}

/// Writes the boot GDT both protocols' initial segments come from.
pub fn write_gdt(mem: &GuestMemoryMmap) -> Result<(), Error> {
    for (i, d) in GDT.iter().enumerate() {
        mem.write_obj(*d, GuestAddress(BOOT_GDT + 8 * i as u64))
            .map_err(|e| Error::Memory(e.to_string()))?;
    }
    Ok(())
}

/// `cmdline` with each virtio-mmio device announced as Linux's
/// `virtio_mmio.device=SIZE@BASE:IRQ` (exo's kernel reads the same).
fn announce(cmdline: &str, devices: &[super::acpi::MmioDevice]) -> String {
    let mut words: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
    for d in devices {
        words.push(format!(
            "virtio_mmio.device={}@{:#x}:{}",
            d.size, d.base, d.gsi
        ));
    }
    words.join(" ")
}

/// Loads everything `cfg` names into `mem` (sized `cfg.mem_bytes`): a Linux
/// bzImage by Linux's boot protocol (told of `devices` by ACPI), anything
/// else as a PVH ELF (told of them on its command line).
pub fn load(
    mem: &GuestMemoryMmap,
    cfg: &RunConfig,
    devices: &[super::acpi::MmioDevice],
) -> Result<Entry, Error> {
    if let Ok(crate::guest_image::KernelKind::BzImage) =
        crate::guest_image::check_kernel(&cfg.kernel)
    {
        return super::linux_boot::load(mem, cfg, devices);
    }
    let mut file = File::open(&cfg.kernel).map_err(|e| Error::File(cfg.kernel.clone(), e))?;
    let loaded = Elf::load(mem, None, &mut file, Some(GuestAddress(HIGHMEM)))
        .map_err(|e| kernel_error(cfg, e))?;
    let rip = match loaded.pvh_boot_cap {
        PvhBootCapability::PvhEntryPresent(a) => a.0,
        _ => {
            return Err(Error::Kernel(
                cfg.kernel.clone(),
                "no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); exo boots PVH kernels".into(),
            ))
        }
    };

    let mut modules = Vec::new();
    if let Some(path) = &cfg.initrd {
        let (addr, size) = load_initrd(mem, cfg, path, cfg.mem_bytes, loaded.kernel_end)?;
        modules.push(hvm_modlist_entry {
            paddr: addr,
            size,
            cmdline_paddr: 0,
            reserved: 0,
        });
    }

    let mut cmdline = Cmdline::new(CMDLINE_MAX).map_err(|e| Error::Cmdline(e.to_string()))?;
    let text = announce(&cfg.cmdline, devices);
    if !text.is_empty() {
        cmdline
            .insert_str(&text)
            .map_err(|e| Error::Cmdline(e.to_string()))?;
    }
    load_cmdline(mem, GuestAddress(CMDLINE), &cmdline)
        .map_err(|e| Error::Cmdline(e.to_string()))?;

    let map = memmap(cfg.mem_bytes);
    let start_info = hvm_start_info {
        magic: XEN_HVM_START_MAGIC_VALUE,
        version: 1,
        nr_modules: modules.len() as u32,
        modlist_paddr: if modules.is_empty() { 0 } else { MODLIST },
        cmdline_paddr: CMDLINE,
        memmap_paddr: MEMMAP,
        memmap_entries: map.len() as u32,
        ..Default::default()
    };
    let mut params = BootParams::new(&start_info, GuestAddress(START_INFO));
    params.set_sections(&map, GuestAddress(MEMMAP));
    if !modules.is_empty() {
        params.set_modules(&modules, GuestAddress(MODLIST));
    }
    PvhBootConfigurator::write_bootparams::<GuestMemoryMmap>(&params, mem)
        .map_err(|e| Error::Memory(e.to_string()))?;
    write_gdt(mem)?;
    Ok(Entry {
        rip,
        start_info: START_INFO,
        protocol: Protocol::Pvh,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use linux_loader::loader::elf::start_info::hvm_memmap_table_entry;
    use std::io::Write;
    use std::path::PathBuf;

    /// A minimal PVH ELF: one PT_LOAD at 1 MiB with `code`, and a Xen note.
    pub fn pvh_elf(code: &[u8]) -> Vec<u8> {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&18u32.to_le_bytes());
        note.extend_from_slice(b"Xen\0");
        note.extend_from_slice(&0x10_0000u32.to_le_bytes());
        let (ph_off, phnum) = (64u64, 2u16);
        let note_off = ph_off + 56 * phnum as u64;
        let code_off = 0x1000u64;
        let mut e = vec![0u8; code_off as usize];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[6] = 1;
        e[16..18].copy_from_slice(&2u16.to_le_bytes());
        e[18..20].copy_from_slice(&62u16.to_le_bytes());
        e[20..24].copy_from_slice(&1u32.to_le_bytes());
        e[24..32].copy_from_slice(&0x10_0000u64.to_le_bytes());
        e[32..40].copy_from_slice(&ph_off.to_le_bytes());
        e[52..54].copy_from_slice(&64u16.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&phnum.to_le_bytes());
        let ph =
            |e: &mut Vec<u8>, at: usize, kind: u32, off: u64, addr: u64, size: u64, align: u64| {
                e[at..at + 4].copy_from_slice(&kind.to_le_bytes());
                e[at + 4..at + 8].copy_from_slice(&5u32.to_le_bytes());
                e[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
                e[at + 16..at + 24].copy_from_slice(&addr.to_le_bytes());
                e[at + 24..at + 32].copy_from_slice(&addr.to_le_bytes());
                e[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
                e[at + 40..at + 48].copy_from_slice(&size.to_le_bytes());
                e[at + 48..at + 56].copy_from_slice(&align.to_le_bytes());
            };
        ph(
            &mut e,
            64,
            1,
            code_off,
            0x10_0000,
            code.len() as u64,
            0x1000,
        );
        ph(&mut e, 120, 4, note_off, 0, note.len() as u64, 4);
        e[note_off as usize..note_off as usize + note.len()].copy_from_slice(&note);
        e.extend_from_slice(code);
        e
    }

    /// Removes the files `temp` made.
    pub fn cleanup(names: &[&str]) {
        for n in names {
            let p = std::env::temp_dir().join(format!("exo-kvm-{}-{n}", std::process::id()));
            let _ = std::fs::remove_file(p);
        }
    }

    pub fn temp(name: &str, data: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("exo-kvm-{}-{name}", std::process::id()));
        std::fs::File::create(&p).unwrap().write_all(data).unwrap();
        p
    }

    fn cfg(kernel: PathBuf, initrd: Option<PathBuf>, mem: u64, cmdline: &str) -> RunConfig {
        RunConfig {
            kernel,
            initrd,
            mem_bytes: mem,
            cmdline: cmdline.into(),
            disks: vec![],
            nets: vec![],
            gdb: None,
            trace: None,
            icount: false,
        }
    }

    fn memory(size: u64) -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size as usize)]).unwrap()
    }

    #[test]
    fn loads_kernel_initrd_cmdline_and_start_info() {
        let k = temp("k1", &pvh_elf(&[0xf4; 16]));
        let rd = temp("rd1", b"initrd-bytes");
        let mem = memory(32 << 20);
        let entry = load(
            &mem,
            &cfg(k, Some(rd), 32 << 20, "exo.init=/bin/x exo.hz=50"),
            &[],
        )
        .unwrap();
        assert_eq!(
            entry,
            Entry {
                rip: 0x10_0000,
                start_info: START_INFO,
                protocol: Protocol::Pvh,
            }
        );
        assert_eq!(mem.read_obj::<u8>(GuestAddress(0x10_0000)).unwrap(), 0xf4);
        let si: hvm_start_info = mem.read_obj(GuestAddress(START_INFO)).unwrap();
        assert_eq!(
            (si.magic, si.version, si.nr_modules),
            (XEN_HVM_START_MAGIC_VALUE, 1, 1)
        );
        let mut cl = [0u8; 26];
        mem.read_slice(&mut cl, GuestAddress(si.cmdline_paddr))
            .unwrap();
        assert_eq!(&cl, b"exo.init=/bin/x exo.hz=50\0");
        let m: hvm_modlist_entry = mem.read_obj(GuestAddress(si.modlist_paddr)).unwrap();
        assert_eq!(m.size, 12);
        assert_eq!(m.paddr % 4096, 0);
        let mut rd_back = [0u8; 12];
        mem.read_slice(&mut rd_back, GuestAddress(m.paddr)).unwrap();
        assert_eq!(&rd_back, b"initrd-bytes");
        assert_eq!(si.memmap_entries, 3);
        let top: hvm_memmap_table_entry = mem
            .read_obj(GuestAddress(si.memmap_paddr + 2 * 24))
            .unwrap();
        assert_eq!(top.addr + top.size, 32 << 20);
        assert_eq!(
            mem.read_obj::<u64>(GuestAddress(BOOT_GDT + 16)).unwrap(),
            GDT[2]
        );
        cleanup(&["k1", "rd1"]);
    }

    #[test]
    fn rejects_bad_kernels_and_initrds() {
        let mem = memory(16 << 20);
        let text = temp(
            "text",
            b"hello, not an elf at all, definitely not\n"
                .repeat(4)
                .as_slice(),
        );
        let e = load(&mem, &cfg(text, None, 16 << 20, ""), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ELF"), "{e}");
        let e = load(
            &mem,
            &cfg("/nonexistent/kernel".into(), None, 16 << 20, ""),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/nonexistent/kernel"), "{e}");
        if std::path::Path::new("/bin/true").exists() {
            let e = load(&mem, &cfg("/bin/true".into(), None, 16 << 20, ""), &[])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("PVH") || e.contains("outside guest memory"),
                "{e}"
            );
        }
        let k = temp("k2", &pvh_elf(&[0xf4]));
        let big = temp("bigrd", &vec![0u8; 17 << 20]);
        let e = load(&mem, &cfg(k.clone(), Some(big), 16 << 20, ""), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not fit"), "{e}");
        let e = load(&mem, &cfg(k, None, 16 << 20, &"x".repeat(5000)), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("command line"), "{e}");
        cleanup(&["text", "k2", "bigrd"]);
    }
}
