//! Loading and starting the first user program: an ELF from the initrd,
//! mapped into a fresh address space and entered in ring 3.

use crate::arch::gdt::{USER_CS, USER_DS};
use crate::arch::trap_frame::TrapFrame;
use crate::mem::paging::{AddressSpace, MapError};
use crate::mem::{frames, phys_to_virt, PAGE_SIZE};
use elf::abi::{EM_X86_64, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use exo_abi::boot::USER_TOP;

/// Top of the initial user stack, and its size.
pub const USER_STACK_TOP: u64 = 0x0000_7f7f_ffff_0000;
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

/// Maps the ELF image into `space` and returns its entry point.
pub fn load(space: &mut AddressSpace, image: &[u8]) -> Result<u64, LoadError> {
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
        let (w, x) = (ph.p_flags & PF_W != 0, ph.p_flags & PF_X != 0);
        let mut page = va & !(PAGE_SIZE - 1);
        while page < end {
            let pa = frames::alloc().ok_or(LoadError::Map(MapError::OutOfMemory))?;
            // Copy the part of the file image that falls in this page.
            let lo = page.max(va);
            let hi = (page + PAGE_SIZE).min(va + filesz);
            if lo < hi {
                let src = &data[(lo - va) as usize..(hi - va) as usize];
                // SAFETY: fresh frame mapped in the kernel region; the copy stays in it.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        src.as_ptr(),
                        phys_to_virt(pa).add((lo - page) as usize),
                        src.len(),
                    )
                };
            }
            if let Err(e) = space.map_user(page, pa, w, x) {
                frames::free(pa);
                return Err(e.into());
            }
            page += PAGE_SIZE;
        }
    }
    if entry >= USER_TOP {
        return Err(LoadError::NotExecutable);
    }
    for i in 1..=USER_STACK_PAGES {
        let pa = frames::alloc().ok_or(LoadError::Map(MapError::OutOfMemory))?;
        space.map_user(USER_STACK_TOP - i * PAGE_SIZE, pa, true, false)?;
    }
    Ok(entry)
}

/// The initial ring-3 register state for a program entering at `entry`.
pub fn initial_frame(entry: u64) -> TrapFrame {
    TrapFrame {
        rip: entry,
        cs: USER_CS as u64,
        rflags: 0x202, // IF set: timer interrupts reach user code
        rsp: USER_STACK_TOP,
        ss: USER_DS as u64,
        ..TrapFrame::default()
    }
}
