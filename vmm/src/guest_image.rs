//! Checks that a kernel file is bootable before any engine starts, so every
//! engine rejects a bad image with the same clear message: a PVH ELF (the
//! exokernel) or a Linux bzImage (a Linux guest, e.g. `exo bench`'s).

use std::fmt;
use std::path::Path;

const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PT_NOTE: u32 = 4;
const EM_X86_64: u16 = 62;

/// Why a kernel image cannot be booted.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageError {
    Unreadable(String),
    NotElf,
    Not64BitX86,
    Truncated,
    NoPvhNote,
    /// A bzImage whose boot protocol is too old for a 32-bit entry above 1 MiB.
    OldBzImage(u16),
}

/// What kind of kernel an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelKind {
    /// A PVH ELF, with its 32-bit entry point.
    Pvh(u32),
    /// A Linux bzImage (boot protocol 2.06 or later).
    BzImage,
}

/// Linux's setup header: "HdrS" at 0x202, the protocol version after it.
const BZ_MAGIC_AT: usize = 0x202;
const BZ_VERSION_AT: usize = 0x206;
/// Oldest boot protocol we boot: 2.06 (cmdline_size, 32-bit entry, loaded high).
const BZ_MIN_VERSION: u16 = 0x206;

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Unreadable(e) => write!(f, "cannot read it: {e}"),
            ImageError::NotElf => {
                f.write_str("neither an ELF file (bad magic number) nor a Linux bzImage")
            }
            ImageError::Not64BitX86 => f.write_str("not a 64-bit little-endian x86-64 ELF"),
            ImageError::Truncated => {
                f.write_str("truncated ELF (headers point past the end of the file)")
            }
            ImageError::NoPvhNote => f.write_str(
                "no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); exo boots PVH kernels and Linux bzImages",
            ),
            ImageError::OldBzImage(v) => write!(
                f,
                "a Linux bzImage of boot protocol {}.{:02}; exo needs 2.06 or later",
                v >> 8,
                v & 0xff
            ),
        }
    }
}

use exo_abi::program::{u16_at, u32_at, u64_at};

/// Returns the PVH entry point of an ELF image in memory.
pub fn pvh_entry(elf: &[u8]) -> Result<u32, ImageError> {
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err(ImageError::NotElf);
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) || u16_at(elf, 18) != Some(EM_X86_64) {
        return Err(ImageError::Not64BitX86);
    }
    let phoff = u64_at(elf, 32).ok_or(ImageError::Truncated)? as usize;
    let phentsize = u16_at(elf, 54).ok_or(ImageError::Truncated)? as usize;
    let phnum = u16_at(elf, 56).ok_or(ImageError::Truncated)? as usize;
    for i in 0..phnum {
        let ph = phoff
            .checked_add(i * phentsize)
            .ok_or(ImageError::Truncated)?;
        if u32_at(elf, ph).ok_or(ImageError::Truncated)? != PT_NOTE {
            continue;
        }
        let off = u64_at(elf, ph + 8).ok_or(ImageError::Truncated)? as usize;
        let size = u64_at(elf, ph + 32).ok_or(ImageError::Truncated)? as usize;
        let notes = off
            .checked_add(size)
            .and_then(|end| elf.get(off..end))
            .ok_or(ImageError::Truncated)?;
        if let Some(entry) = find_pvh_note(notes) {
            return Ok(entry);
        }
    }
    Err(ImageError::NoPvhNote)
}

fn find_pvh_note(mut notes: &[u8]) -> Option<u32> {
    let align4 = |x: usize| x.checked_add(3).map(|x| x & !3);
    while notes.len() >= 12 {
        let namesz = u32_at(notes, 0)? as usize;
        let descsz = u32_at(notes, 4)? as usize;
        let kind = u32_at(notes, 8)?;
        let desc_off = 12usize.checked_add(align4(namesz)?)?;
        let name = notes.get(12..12usize.checked_add(namesz)?)?;
        let desc = notes.get(desc_off..desc_off.checked_add(descsz)?)?;
        if kind == XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
            return Some(u32::from_le_bytes(desc.get(..4)?.try_into().ok()?));
        }
        notes = notes.get(desc_off.checked_add(align4(descsz)?)?..)?;
    }
    None
}

/// What kind of kernel `image` is, or why it cannot be booted.
pub fn kernel_kind(image: &[u8]) -> Result<KernelKind, ImageError> {
    if image.get(BZ_MAGIC_AT..BZ_MAGIC_AT + 4) == Some(b"HdrS") {
        let version = u16_at(image, BZ_VERSION_AT).ok_or(ImageError::Truncated)?;
        return if version >= BZ_MIN_VERSION {
            Ok(KernelKind::BzImage)
        } else {
            Err(ImageError::OldBzImage(version))
        };
    }
    pvh_entry(image).map(KernelKind::Pvh)
}

/// Checks the kernel file at `path`.
pub fn check_kernel(path: &Path) -> Result<KernelKind, ImageError> {
    let bytes = std::fs::read(path).map_err(|e| ImageError::Unreadable(e.to_string()))?;
    kernel_kind(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with one PT_NOTE holding the given notes.
    pub(crate) fn elf_with_notes(notes: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[6] = 1;
        e[16..18].copy_from_slice(&2u16.to_le_bytes());
        e[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        e[64..68].copy_from_slice(&PT_NOTE.to_le_bytes());
        e[72..80].copy_from_slice(&120u64.to_le_bytes());
        e[96..104].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        e.extend_from_slice(notes);
        e
    }

    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.resize(n.len().div_ceil(4) * 4, 0);
        n.extend_from_slice(desc);
        n.resize(n.len().div_ceil(4) * 4, 0);
        n
    }

    #[test]
    fn finds_the_pvh_entry_among_other_notes() {
        let mut notes = note(b"GNU\0", 3, &[1, 2, 3, 4, 5]);
        notes.extend(note(
            b"Xen\0",
            XEN_ELFNOTE_PHYS32_ENTRY,
            &0x100000u32.to_le_bytes(),
        ));
        assert_eq!(pvh_entry(&elf_with_notes(&notes)), Ok(0x100000));
    }

    #[test]
    fn rejects_bad_images() {
        assert_eq!(pvh_entry(b"#!/bin/sh\necho hi\n"), Err(ImageError::NotElf));
        let mut e = elf_with_notes(&[]);
        assert_eq!(pvh_entry(&e), Err(ImageError::NoPvhNote));
        e[4] = 1;
        assert_eq!(pvh_entry(&e), Err(ImageError::Not64BitX86));
        let e = elf_with_notes(&note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &[1, 0, 0, 0]));
        assert_eq!(pvh_entry(&e[..100]), Err(ImageError::Truncated));
        // A note whose sizes point far past its end must not be trusted.
        let mut bad = note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, &[1, 0, 0, 0]);
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(pvh_entry(&elf_with_notes(&bad)), Err(ImageError::NoPvhNote));
    }

    #[test]
    fn tells_bzimages_from_pvh_kernels() {
        let mut bz = vec![0u8; 0x400];
        bz[BZ_MAGIC_AT..BZ_MAGIC_AT + 4].copy_from_slice(b"HdrS");
        bz[BZ_VERSION_AT..BZ_VERSION_AT + 2].copy_from_slice(&0x20fu16.to_le_bytes());
        assert_eq!(kernel_kind(&bz), Ok(KernelKind::BzImage));
        bz[BZ_VERSION_AT..BZ_VERSION_AT + 2].copy_from_slice(&0x204u16.to_le_bytes());
        assert_eq!(kernel_kind(&bz), Err(ImageError::OldBzImage(0x204)));
        assert!(ImageError::OldBzImage(0x204).to_string().contains("2.04"));
        assert_eq!(kernel_kind(&bz[..0x207]), Err(ImageError::Truncated));
        let pvh = elf_with_notes(&note(
            b"Xen\0",
            XEN_ELFNOTE_PHYS32_ENTRY,
            &0x100000u32.to_le_bytes(),
        ));
        assert_eq!(kernel_kind(&pvh), Ok(KernelKind::Pvh(0x100000)));
        assert_eq!(kernel_kind(b"text"), Err(ImageError::NotElf));
    }

    #[test]
    fn host_binaries_are_not_pvh() {
        if let Ok(b) = std::fs::read("/bin/true") {
            assert_eq!(pvh_entry(&b), Err(ImageError::NoPvhNote));
        }
    }
}
