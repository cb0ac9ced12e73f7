//! Loading the first environment's program: an ELF from the initrd, mapped
//! into the environment's address space with pages it owns (guarded by the
//! root capability it holds).

use crate::mem::frames::PAGES;
use crate::mem::paging::{AddressSpace, MapError, Prot};
use crate::mem::{phys_to_virt, PAGE_SIZE};
use elf::abi::{EM_X86_64, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use exo_abi::cap::Cap;
use exo_abi::layout::{USER_STACK_TOP, USER_TOP};

const USER_STACK_PAGES: u64 = 16;

/// Why a program could not be loaded (printed with `{:?}`).
#[derive(Debug)]
#[allow(dead_code)]
pub enum LoadError {
    NotElf,
    NotExecutable,
    BadSegment(u64),
    Map(MapError),
}

impl From<MapError> for LoadError {
    fn from(e: MapError) -> Self {
        LoadError::Map(e)
    }
}

/// A fresh zeroed page owned by `env`, counted as mapped once.
fn user_page(env: u32) -> Result<u64, LoadError> {
    let mut pages = PAGES.lock();
    let pages = pages.as_mut().expect("records");
    let ppn = pages
        .alloc_any(env, &Cap::ROOT)
        .ok_or(LoadError::Map(MapError::OutOfMemory))?;
    pages
        .map_ref(ppn, &Cap::ROOT, true)
        .map_err(|_| LoadError::Map(MapError::OutOfMemory))?;
    let pa = ppn * PAGE_SIZE;
    // SAFETY: a page just allocated, mapped in the kernel region.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, PAGE_SIZE as usize) };
    Ok(pa)
}

/// Maps the ELF image into `space` for environment `env`; returns its entry point.
pub fn load(space: &mut AddressSpace, env: u32, image: &[u8]) -> Result<u64, LoadError> {
    let elf = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| LoadError::NotElf)?;
    if elf.ehdr.e_machine != EM_X86_64 {
        return Err(LoadError::NotExecutable);
    }
    let entry = elf.ehdr.e_entry;
    let segments = elf.segments().ok_or(LoadError::NotExecutable)?;
    for ph in segments.iter() {
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let (va, memsz, off, filesz) = (ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz);
        let end = va.checked_add(memsz).ok_or(LoadError::BadSegment(va))?;
        let file_end = off.checked_add(filesz).ok_or(LoadError::BadSegment(va))?;
        if end > USER_TOP || filesz > memsz || file_end > image.len() as u64 {
            return Err(LoadError::BadSegment(va));
        }
        let data = &image[off as usize..file_end as usize];
        let prot = Prot {
            writable: ph.p_flags & PF_W != 0,
            executable: ph.p_flags & PF_X != 0,
            soft: 0,
        };
        let mut page = va & !(PAGE_SIZE - 1);
        while page < end {
            let pa = user_page(env)?;
            // Copy the part of the file image that falls in this page.
            let lo = page.max(va);
            let hi = (page + PAGE_SIZE).min(va + filesz);
            if lo < hi {
                let src = &data[(lo - va) as usize..(hi - va) as usize];
                // SAFETY: fresh page mapped in the kernel region; the copy stays in it.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        src.as_ptr(),
                        phys_to_virt(pa).add((lo - page) as usize),
                        src.len(),
                    )
                };
            }
            if space.map(page, pa, prot)?.is_some() {
                return Err(LoadError::BadSegment(va)); // segments overlap
            }
            page += PAGE_SIZE;
        }
    }
    if entry >= USER_TOP {
        return Err(LoadError::NotExecutable);
    }
    for i in 1..=USER_STACK_PAGES {
        let pa = user_page(env)?;
        space.map(
            USER_STACK_TOP - i * PAGE_SIZE,
            pa,
            Prot {
                writable: true,
                executable: false,
                soft: 0,
            },
        )?;
    }
    Ok(entry)
}
