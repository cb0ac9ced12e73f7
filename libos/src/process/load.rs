//! Starting a program from the initrd as a new process: its ELF segments
//! (read-only pages mapped from the initrd itself, the rest copied) and a
//! fresh stack in a new environment.

use super::{pid, start_child, PInfo};
use crate::child::Builder;
use crate::fd::{kind, Fd, MAX_FDS};
use crate::initrd;
use crate::layout::SLOT_SELF;
use crate::sys::Error;
use crate::vm::PAGE_SIZE;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::segment::SegmentTable;
use elf::ElfBytes;
use exo_abi::layout::{USER_STACK_TOP, USER_TOP};
use exo_abi::trap::UTrapFrame;

const STACK_PAGES: u64 = 16;

/// Starts program `path` from the initrd with arguments `argv` (argv[0] is
/// its name) and file descriptors `fds`; returns its pid.
/// A program not built for exo (an unmodified Linux one) is started under
/// the Linux personality's runner (`linux PATH ARGS...`).
pub fn spawn(path: &str, argv: &[&str], fds: &[Fd; MAX_FDS]) -> Result<u32, Error> {
    let image = initrd::open(path).ok_or(Error::NoEnv)?;
    if exo_abi::program::is_elf64(image) && !exo_abi::program::is_exo_program(image) {
        let runner = exo_abi::program::LINUX_RUNNER;
        if path != runner && initrd::open(runner).is_some() {
            let mut with: alloc::vec::Vec<&str> = alloc::vec!["linux", path];
            with.extend(argv.iter().skip(1));
            return spawn(runner, &with, fds);
        }
    }
    let elf = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| Error::Invalid)?;
    let segments = elf.segments().ok_or(Error::Invalid)?;
    let slot = crate::child::free_slot()?;
    let mut b = Builder::create(slot, &[b'a' + (slot as u8), (pid() & 0xff) as u8])?;
    load(&mut b, image, &segments)?;
    for i in 1..=STACK_PAGES {
        b.map_new(USER_STACK_TOP - i * PAGE_SIZE, true, false, |p| p.fill(0))?;
    }
    // Open files are per process (the table is ours, not shared).
    let mut fds = *fds;
    for f in fds.iter_mut().filter(|f| f.kind == kind::FS_FILE) {
        *f = Fd::CLOSED;
    }
    let info = PInfo::new(b.id(), pid(), argv.iter().map(|a| a.as_bytes()), &fds);
    let ctx = UTrapFrame {
        rip: elf.ehdr.e_entry,
        rsp: USER_STACK_TOP,
        ..UTrapFrame::default()
    };
    start_child(b, &info, path.rsplit('/').next().unwrap_or(path), &ctx)
}

/// Maps the loadable segments of `image` into the child.
fn load(b: &mut Builder, image: &[u8], segments: &SegmentTable<LittleEndian>) -> Result<(), Error> {
    for ph in segments
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
    {
        let (va, filesz) = (ph.p_vaddr, ph.p_filesz);
        let end = va
            .checked_add(ph.p_memsz)
            .filter(|&e| e <= USER_TOP)
            .ok_or(Error::Invalid)?;
        let data = image
            .get(ph.p_offset as usize..(ph.p_offset + filesz) as usize)
            .ok_or(Error::Invalid)?;
        let (writable, exec) = (ph.p_flags & PF_W != 0, ph.p_flags & PF_X != 0);
        let mut page = va & !(PAGE_SIZE - 1);
        while page < end {
            // A read-only page wholly of the file's bytes is the initrd's own.
            let public = (!writable && page >= va && page + PAGE_SIZE <= va + filesz)
                .then(|| initrd::public_frame(data.as_ptr() as u64 + (page - va)))
                .flatten();
            if let Some(ppn) = public {
                b.map(page, ppn, false, exec, SLOT_SELF)?;
                page += PAGE_SIZE;
                continue;
            }
            b.map_new(page, writable, exec, |buf| {
                buf.fill(0);
                let lo = page.max(va);
                let hi = (page + PAGE_SIZE).min(va + filesz);
                if lo < hi {
                    buf[(lo - page) as usize..(hi - page) as usize]
                        .copy_from_slice(&data[(lo - va) as usize..(hi - va) as usize]);
                }
            })?;
            page += PAGE_SIZE;
        }
    }
    Ok(())
}
