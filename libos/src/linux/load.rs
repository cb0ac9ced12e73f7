//! Maps a static Linux ELF executable's loadable segments into this address
//! space at the addresses it was linked for. A program from the initrd
//! (mapped read-only in every process) is paged in on demand: its segments
//! are only recorded, and the first touch of each page (by the program, or
//! by this library on its behalf) fills it from the initrd, so that an exec
//! copies the pages a program uses rather than its whole image (busybox
//! is 2 MB; `true` touches a few dozen pages of it). Read-only pages are
//! not even copied: the initrd's pages are public (anyone may map them
//! read-only) and each program in it starts on a page, so such a page is
//! the initrd's own, mapped where the program wants it. (Only the page
//! touched: mapping its neighbours too, as Linux does around a fault, cost
//! more than the faults it saved, busybox's fork+exec measured under
//! icount.) A program read from the disk is copied in whole.

use crate::scratch;
use crate::sys::Error;
use crate::vm::{self, map_op, PAGE_SIZE};
use elf::abi::{ET_DYN, ET_EXEC, PF_W, PF_X, PT_INTERP, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use exo_abi::layout::pte;
use exo_abi::vm::{VmOp, MAP_EXEC, OP_MAP, OP_PROTECT};

/// A segment still to be paged in from the initrd.
#[derive(Clone, Copy)]
struct Lazy {
    va: u64,
    end: u64,
    data: &'static [u8],
    writable: bool,
    exec: bool,
}

/// Most loadable segments a demand-paged program may have.
const MAX_LAZY: usize = 8;

/// The running program's demand-paged segments (a forked child inherits
/// them with the rest of this library's data; an exec replaces them).
static LAZY: crate::cell::Exclusive<[Option<Lazy>; MAX_LAZY]> =
    crate::cell::Exclusive::new([None; MAX_LAZY]);

/// `image` as part of the initrd, if it is one of its files.
fn in_initrd(image: &[u8]) -> Option<&'static [u8]> {
    let all = crate::initrd::archive();
    let off = (image.as_ptr() as usize).checked_sub(all.as_ptr() as usize)?;
    all.get(off..off.checked_add(image.len())?)
}

/// Pages in the demand-paged page at `va`, if it is one and not mapped yet;
/// whether it did (see `mem::fault_in`). A page read first that is wholly
/// a segment's file bytes is the initrd's own page, mapped read-only, or
/// copy-on-write for a writable segment (the first write copies it, as
/// Linux's private file mappings do). Any other
/// page, or one written first, is a fresh page filled here.
pub fn fault_in(va: u64, write: bool) -> bool {
    let page = va & !(PAGE_SIZE - 1);
    if vm::ppn_of(page).is_some() {
        return false;
    }
    let Some(parts) = LAZY.try_with(|l| *l) else {
        return false;
    };
    let covering = || {
        parts
            .iter()
            .flatten()
            .filter(move |s| s.va < page + PAGE_SIZE && page < s.end)
    };
    if covering().next().is_none() {
        return false;
    }
    if !write && map_public(page, &parts) {
        return true;
    }
    let w = covering().any(|s| s.writable);
    let x = covering().any(|s| s.exec);
    let Ok(ppn) = vm::alloc_page(0) else {
        return false;
    };
    // Filled in place: mapped writable first, then given its own rights.
    if vm::apply(&[map_op(page, ppn, true, x, 0)]).is_err() {
        let _ = crate::sys::p_free(ppn, 0);
        return false;
    }
    // SAFETY: `page` was just mapped writable here, to a fresh page (zeroed
    // by the kernel) that nothing else maps or references.
    let buf = unsafe { core::slice::from_raw_parts_mut(page as *mut u8, PAGE_SIZE as usize) };
    for s in covering() {
        copy_part(buf, page, s.va, s.data);
    }
    w || vm::apply(&[rights(page, 0, false, x, false)]).is_ok()
}

/// A page-table operation giving `va` the rights of a segment page:
/// mapping `ppn` (`map`) or changing the rights of what is there.
fn rights(va: u64, ppn: u64, map: bool, exec: bool, cow: bool) -> VmOp {
    VmOp {
        op: if map { OP_MAP } else { OP_PROTECT },
        cap_slot: 0,
        va,
        ppn,
        flags: if exec { MAP_EXEC } else { 0 } | if cow { crate::fork::PTE_COW } else { 0 },
    }
}

/// The initrd's physical page holding the bytes of the segment that
/// belong at `page`, if that segment alone covers the page with its file
/// bytes and those bytes are a whole public page; with whether the page
/// is copy-on-write (its segment writable).
fn public_frame(page: u64, parts: &[Option<Lazy>]) -> Option<(u64, bool)> {
    let mut covering = parts
        .iter()
        .flatten()
        .filter(|s| s.va < page + PAGE_SIZE && page < s.end);
    let s = covering.next()?;
    if covering.next().is_some() || page < s.va || page + PAGE_SIZE > s.va + s.data.len() as u64 {
        return None;
    }
    let src = s.data.as_ptr() as u64 + (page - s.va);
    crate::initrd::public_frame(src).map(|ppn| (ppn, s.writable))
}

/// Maps the initrd's own page at `page` if it is one; whether it was.
fn map_public(page: u64, parts: &[Option<Lazy>]) -> bool {
    let Some((ppn, cow)) = public_frame(page, parts) else {
        return false;
    };
    let exec = parts
        .iter()
        .flatten()
        .any(|s| s.exec && s.va <= page && page < s.end);
    vm::apply(&[rights(page, ppn, true, exec, cow)]).is_ok()
}

/// Where a loaded program is.
pub struct Program {
    pub entry: u64,
    /// Its program headers in memory, their size and number (for auxv).
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// The range its segments span: its `syscall`s are reflected from here.
    pub lo: u64,
    pub hi: u64,
    /// Where its heap (`brk`) starts.
    pub brk: u64,
}

/// Lowest address a Linux program may be loaded at; the runner's own image
/// sits at 1 GiB, so a program must end below it.
pub const LOAD_LIMIT: u64 = 0x4000_0000;

/// Where a static position-independent executable is placed (it relocates
/// itself from there).
const PIE_BASE: u64 = 0x1000_0000;

/// How far the image's addresses are moved: 0 for a fixed-address
/// executable, `PIE_BASE` for a static-PIE one (ET_DYN without an
/// interpreter); None for anything else (dynamically linked programs).
fn bias(elf: &ElfBytes<LittleEndian>) -> Option<u64> {
    let segments = elf.segments()?;
    match elf.ehdr.e_type {
        ET_EXEC => Some(0),
        ET_DYN if !segments.iter().any(|p| p.p_type == PT_INTERP) => Some(PIE_BASE),
        _ => None,
    }
}

/// Whether `image` is a program `load` can run (ENOEXEC if not), checked
/// before an exec lets the old program go.
pub fn check(image: &[u8]) -> Result<(), i64> {
    use super::nr::ENOEXEC;
    let elf = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| -ENOEXEC)?;
    let segments = elf.segments().ok_or(-ENOEXEC)?;
    let bias = bias(&elf).ok_or(-ENOEXEC)?;
    let fits = |p: &elf::segment::ProgramHeader| {
        p.p_vaddr
            .checked_add(bias)
            .and_then(|v| v.checked_add(p.p_memsz))
            .is_some_and(|e| e <= LOAD_LIMIT && p.p_filesz <= p.p_memsz)
            && p.p_offset
                .checked_add(p.p_filesz)
                .is_some_and(|e| e <= image.len() as u64)
    };
    let loadable: alloc::vec::Vec<_> = segments
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
        .collect();
    if loadable.is_empty() || !loadable.iter().all(fits) {
        return Err(-ENOEXEC);
    }
    Ok(())
}

pub fn load(image: &[u8]) -> Result<Program, Error> {
    let elf = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| Error::Invalid)?;
    let from_initrd = in_initrd(image);
    let mut lazy = [None; MAX_LAZY];
    let mut nlazy = 0;
    let bias = bias(&elf).ok_or(Error::Invalid)?;
    let segments = elf.segments().ok_or(Error::Invalid)?;
    let (mut lo, mut hi, mut phdr) = (u64::MAX, 0, 0);
    for ph in segments
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
    {
        let va = ph.p_vaddr.checked_add(bias).ok_or(Error::Invalid)?;
        let end = va
            .checked_add(ph.p_memsz)
            .filter(|&e| e <= LOAD_LIMIT && ph.p_filesz <= ph.p_memsz)
            .ok_or(Error::Invalid)?;
        let data = image
            .get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize)
            .ok_or(Error::Invalid)?;
        let (writable, exec) = (ph.p_flags & PF_W != 0, ph.p_flags & PF_X != 0);
        let lazy_data = from_initrd
            .and_then(|all| all.get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize));
        match lazy_data {
            Some(data) if nlazy < MAX_LAZY => {
                lazy[nlazy] = Some(Lazy {
                    va,
                    end,
                    data,
                    writable,
                    exec,
                });
                nlazy += 1;
            }
            _ => map_segment(va, end, data, writable, exec)?,
        }
        // The headers are in the segment that holds file offset e_phoff.
        let phoff = elf.ehdr.e_phoff;
        if (ph.p_offset..ph.p_offset + ph.p_filesz).contains(&phoff) {
            phdr = va + (phoff - ph.p_offset);
        }
        lo = lo.min(va);
        hi = hi.max(end);
    }
    if hi == 0 {
        return Err(Error::Invalid);
    }
    LAZY.try_with(|l| *l = lazy).ok_or(Error::Busy)?;
    Ok(Program {
        entry: elf.ehdr.e_entry + bias,
        phdr,
        phent: elf.ehdr.e_phentsize as u64,
        phnum: elf.ehdr.e_phnum as u64,
        lo,
        hi,
        brk: hi.div_ceil(PAGE_SIZE) * PAGE_SIZE,
    })
}

/// Maps `[va, end)` with `data` at its start and zeros after; a page a
/// previous segment already mapped keeps its contents and gets the union of
/// both segments' rights.
fn map_segment(va: u64, end: u64, data: &[u8], writable: bool, exec: bool) -> Result<(), Error> {
    let mut page = va & !(PAGE_SIZE - 1);
    while page < end {
        let old = vm::ppn_of(page).map(|_| crate::info::pte(page));
        let w = writable || old.is_some_and(|e| e & pte::WRITABLE != 0);
        let x = exec || old.is_some_and(|e| e & pte::NO_EXECUTE == 0);
        let ppn = vm::alloc_page(0)?;
        let fill = |buf: &mut [u8]| {
            match old {
                // SAFETY: `page` is mapped here (readable) and is not the
                // scratch window `buf` is.
                Some(_) => unsafe {
                    core::ptr::copy_nonoverlapping(page as *const u8, buf.as_mut_ptr(), buf.len())
                },
                None => buf.fill(0),
            }
            copy_part(buf, page, va, data);
        };
        scratch::MAIN.fill(ppn, 0, fill, Some(map_op(page, ppn, w, x, 0)))?;
        page += PAGE_SIZE;
    }
    Ok(())
}

/// Copies into `buf`, the page at `page`, the part of `data` (which starts
/// at `va`) that falls in it.
fn copy_part(buf: &mut [u8], page: u64, va: u64, data: &[u8]) {
    let (from, to) = (page.max(va), (page + PAGE_SIZE).min(va + data.len() as u64));
    if from < to {
        buf[(from - page) as usize..(to - page) as usize]
            .copy_from_slice(&data[(from - va) as usize..(to - va) as usize]);
    }
}
