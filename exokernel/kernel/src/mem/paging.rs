//! 4-level x86-64 page tables. Every PML4 shares slot 255 (the kernel region:
//! all RAM at KERNEL_BASE + phys, supervisor-only) and slot 253 (read-only
//! windows on the page records, environment table and system page), and
//! points slot 254 at itself, read-only, so an environment reads its own page
//! tables (UVPT). Slots 0..253 are the environment's, managed through
//! checked calls.

use super::{frames, phys_to_virt, PAGE_SIZE};
use crate::arch::{cpu, lapic};
use exo_abi::layout::{KERNEL_BASE, UPAGES, USER_TOP, UVPT_SLOT};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as F, PhysFrame};
use x86_64::PhysAddr;

const KERNEL_SLOT: usize = (KERNEL_BASE >> 39) as usize & 511;
const INFO_SLOT: usize = (UPAGES >> 39) as usize & 511;
const HUGE: u64 = 2 << 20;

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    NotUser,
    AlreadyMapped,
}

fn table(pa: u64) -> &'static mut PageTable {
    // SAFETY: page-table frames are RAM owned by the kernel, mapped in the
    // kernel region; the kernel runs on one CPU with interrupts off.
    unsafe { &mut *(phys_to_virt(pa) as *mut PageTable) }
}

/// The next-level table under entry `i`, allocated if absent.
fn next(parent: &mut PageTable, i: usize, flags: F) -> Result<u64, MapError> {
    next_counted(parent, i, flags, &mut 0)
}

/// [`next`], counting a table it allocates in `made`.
fn next_counted(
    parent: &mut PageTable,
    i: usize,
    flags: F,
    made: &mut u64,
) -> Result<u64, MapError> {
    let e = &mut parent[i];
    if e.is_unused() {
        let pa = frames::alloc().ok_or(MapError::OutOfMemory)?;
        e.set_addr(PhysAddr::new(pa), flags);
        *made += 1;
    } else if e.flags().contains(F::HUGE_PAGE) {
        return Err(MapError::AlreadyMapped);
    }
    Ok(e.addr().as_u64())
}

/// The next-level table under entry `i`, if present.
fn existing(parent: &PageTable, i: usize) -> Option<u64> {
    let e = &parent[i];
    (e.flags().contains(F::PRESENT) && !e.flags().contains(F::HUGE_PAGE)).then(|| e.addr().as_u64())
}

fn indices(va: u64) -> [usize; 4] {
    [
        (va >> 39) as usize & 511,
        (va >> 30) as usize & 511,
        (va >> 21) as usize & 511,
        (va >> 12) as usize & 511,
    ]
}

fn nx() -> F {
    if cpu::has_nx() {
        F::NO_EXECUTE
    } else {
        F::empty()
    }
}

/// Physical address of the kernel's own PML4 (template of every address space).
static mut KERNEL_PML4: u64 = 0;

fn kernel_pml4() -> u64 {
    // SAFETY: written once at boot before any reader.
    unsafe { KERNEL_PML4 }
}

/// Builds the kernel's page tables (RAM up to `ram_end` mapped with 2 MiB
/// pages in the kernel region, the LAPIC page uncached) and switches to them,
/// dropping the boot identity mapping.
pub fn init_kernel(ram_end: u64) -> Result<(), MapError> {
    let pml4 = frames::alloc().ok_or(MapError::OutOfMemory)?;
    let inner = F::PRESENT | F::WRITABLE;
    let pdpt = next(table(pml4), KERNEL_SLOT, inner)?;
    let mut pa = 0;
    while pa < ram_end.div_ceil(HUGE) * HUGE {
        let [_, i3, i2, _] = indices(KERNEL_BASE + pa);
        let pd = next(table(pdpt), i3, inner)?;
        table(pd)[i2].set_addr(PhysAddr::new(pa), inner | F::HUGE_PAGE | F::GLOBAL);
        pa += HUGE;
    }
    let [_, i3, i2, i1] = indices(KERNEL_BASE + lapic::LAPIC_PHYS);
    let pd = next(table(pdpt), i3, inner)?;
    let pt = next(table(pd), i2, inner)?;
    table(pt)[i1].set_addr(
        PhysAddr::new(lapic::LAPIC_PHYS),
        inner | F::NO_CACHE | F::WRITE_THROUGH | F::GLOBAL,
    );
    // SAFETY: the new tables map the kernel region exactly as the boot tables
    // did (same addresses for code, data and stack), so execution continues.
    unsafe {
        KERNEL_PML4 = pml4;
        Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(pml4)),
            Cr3Flags::empty(),
        );
    }
    Ok(())
}

/// Makes the kernel's mapping of RAM non-executable except where the
/// kernel's code runs from: its image (`text`) and the heap (`heap`), where
/// DPF's compiled filters live. Nothing an environment writes elsewhere in
/// RAM can then be executed at ring 0.
pub fn seal_direct_map(ram_end: u64, exec: &[(u64, u64)]) {
    if nx().is_empty() {
        return;
    }
    let pdpt = existing(table(kernel_pml4()), KERNEL_SLOT);
    let mut pa = 0;
    while pa < ram_end.div_ceil(HUGE) * HUGE {
        let keep = exec.iter().any(|&(s, e)| pa < e && s < pa + HUGE);
        let [_, i3, i2, _] = indices(KERNEL_BASE + pa);
        if let Some(pd) = pdpt.and_then(|t| existing(table(t), i3)) {
            let e = &mut table(pd)[i2];
            if !keep && e.flags().contains(F::HUGE_PAGE) {
                let flags = e.flags() | F::NO_EXECUTE;
                e.set_flags(flags);
            }
        }
        pa += HUGE;
    }
    x86_64::instructions::tlb::flush_all();
}

/// Unmaps the kernel page at `va` (in the kernel's mapping of RAM), turning
/// the 2 MiB page around it into 4 KiB ones: a guard page below a stack, so
/// that overflowing it faults instead of overwriting what lies below.
pub fn guard(va: u64) -> Result<(), MapError> {
    let [i4, i3, i2, i1] = indices(va);
    let pdpt = existing(table(kernel_pml4()), i4).ok_or(MapError::NotUser)?;
    let pd = existing(table(pdpt), i3).ok_or(MapError::NotUser)?;
    let e = &mut table(pd)[i2];
    if e.flags().contains(F::HUGE_PAGE) {
        let base = e.addr().as_u64();
        let flags = e.flags() - F::HUGE_PAGE;
        let pt = frames::alloc().ok_or(MapError::OutOfMemory)?;
        for (i, pte) in table(pt).iter_mut().enumerate() {
            pte.set_addr(PhysAddr::new(base + i as u64 * PAGE_SIZE), flags);
        }
        e.set_addr(PhysAddr::new(pt), F::PRESENT | F::WRITABLE);
    }
    let pt = existing(table(pd), i2).ok_or(MapError::NotUser)?;
    table(pt)[i1].set_unused();
    x86_64::instructions::tlb::flush_all();
    Ok(())
}

/// Maps physical `[pa, pa + len)` read-only for every environment at `va`
/// (in the shared information slot).
pub fn map_info_window(va: u64, pa: u64, len: u64) -> Result<(), MapError> {
    let inner = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
    let leaf = F::PRESENT | F::USER_ACCESSIBLE | F::GLOBAL | nx();
    let mut off = 0;
    while off < len {
        let [i4, i3, i2, i1] = indices(va + off);
        debug_assert_eq!(i4, INFO_SLOT);
        let pdpt = next(table(kernel_pml4()), i4, inner)?;
        let pd = next(table(pdpt), i3, inner)?;
        let pt = next(table(pd), i2, inner)?;
        table(pt)[i1].set_addr(PhysAddr::new(pa + off), leaf);
        off += PAGE_SIZE;
    }
    Ok(())
}

/// Maps device registers at physical `[pa, pa + len)` uncached in the kernel
/// region (shared by every address space). Only for addresses outside RAM.
pub fn map_mmio(pa: u64, len: u64) -> Result<(), MapError> {
    let inner = F::PRESENT | F::WRITABLE;
    let mut page = pa & !(PAGE_SIZE - 1);
    while page < pa + len {
        let [i4, i3, i2, i1] = indices(KERNEL_BASE + page);
        let pdpt = next(table(kernel_pml4()), i4, inner)?;
        let pd = next(table(pdpt), i3, inner)?;
        let pt = next(table(pd), i2, inner)?;
        table(pt)[i1].set_addr(
            PhysAddr::new(page),
            inner | F::NO_CACHE | F::WRITE_THROUGH | F::GLOBAL | nx(),
        );
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(KERNEL_BASE + page));
        page += PAGE_SIZE;
    }
    Ok(())
}

/// Switches to the kernel's own address space (no environment mapped).
pub fn activate_kernel() {
    // SAFETY: the kernel PML4 maps the kernel region.
    unsafe {
        Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(kernel_pml4())),
            Cr3Flags::empty(),
        )
    };
}

/// Rights of a user mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prot {
    pub writable: bool,
    pub executable: bool,
    /// The libOS's software bits (PTE bits 9..=11).
    pub soft: u64,
}

fn leaf_flags(p: Prot) -> F {
    let mut f = F::PRESENT
        | F::USER_ACCESSIBLE
        | F::from_bits_truncate(p.soft & exo_abi::layout::pte::SOFT_MASK);
    if p.writable {
        f |= F::WRITABLE;
    }
    if !p.executable {
        f |= nx();
    }
    f
}

/// A user address space: a PML4 whose kernel and information slots are shared.
pub struct AddressSpace {
    pub pml4: u64,
    /// Page-table pages it holds, the PML4 included (charged to its owner).
    tables: u64,
}

impl AddressSpace {
    pub fn new() -> Result<Self, MapError> {
        let pml4 = frames::alloc().ok_or(MapError::OutOfMemory)?;
        let kernel = table(kernel_pml4());
        let t = table(pml4);
        t[KERNEL_SLOT] = kernel[KERNEL_SLOT].clone();
        t[INFO_SLOT] = kernel[INFO_SLOT].clone();
        t[UVPT_SLOT as usize].set_addr(PhysAddr::new(pml4), F::PRESENT | F::USER_ACCESSIBLE | nx());
        Ok(AddressSpace { pml4, tables: 1 })
    }

    pub fn is_current(&self) -> bool {
        Cr3::read().0.start_address().as_u64() == self.pml4
    }

    /// Makes this the current address space.
    pub fn activate(&self) {
        if !self.is_current() {
            // SAFETY: the PML4 shares the kernel slot, so the kernel keeps running.
            unsafe {
                Cr3::write(
                    PhysFrame::containing_address(PhysAddr::new(self.pml4)),
                    Cr3Flags::empty(),
                )
            };
        }
    }

    fn flush(&self, va: u64) {
        if self.is_current() {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
        }
    }

    /// Page-table pages it holds, the PML4 included.
    pub fn tables(&self) -> u64 {
        self.tables
    }

    /// How many page-table pages mapping `va` would add (0 to 3).
    pub fn tables_needed(&self, va: u64) -> u64 {
        let [i4, i3, i2, _] = indices(va);
        let mut pa = self.pml4;
        for (depth, i) in [i4, i3, i2].into_iter().enumerate() {
            match existing(table(pa), i) {
                Some(p) => pa = p,
                None => return 3 - depth as u64,
            }
        }
        0
    }

    /// The leaf entry for `va`, allocating the tables above it if `create`
    /// (counting them in `create`).
    fn leaf(
        &self,
        va: u64,
        mut create: Option<&mut u64>,
    ) -> Result<Option<&'static mut x86_64::structures::paging::page_table::PageTableEntry>, MapError>
    {
        if va >= USER_TOP || !va.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::NotUser);
        }
        let inner = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
        let [i4, i3, i2, i1] = indices(va);
        let mut pa = self.pml4;
        for i in [i4, i3, i2] {
            pa = if let Some(made) = create.as_deref_mut() {
                next_counted(table(pa), i, inner, made)?
            } else {
                match existing(table(pa), i) {
                    Some(p) => p,
                    None => return Ok(None),
                }
            };
        }
        Ok(Some(&mut table(pa)[i1]))
    }

    /// Maps the page at `va` to `pa`; returns the frame it replaced, if any.
    pub fn map(&mut self, va: u64, pa: u64, prot: Prot) -> Result<Option<u64>, MapError> {
        let mut made = 0;
        let leaf = self.leaf(va, Some(&mut made));
        self.tables += made;
        let e = leaf?.ok_or(MapError::OutOfMemory)?;
        let old = (!e.is_unused()).then(|| e.addr().as_u64());
        e.set_addr(PhysAddr::new(pa), leaf_flags(prot));
        self.flush(va);
        Ok(old)
    }

    /// Removes the mapping at `va`; returns its frame.
    pub fn unmap(&mut self, va: u64) -> Result<Option<u64>, MapError> {
        let Some(e) = self.leaf(va, None)? else {
            return Ok(None);
        };
        if e.is_unused() {
            return Ok(None);
        }
        let pa = e.addr().as_u64();
        e.set_unused();
        self.flush(va);
        Ok(Some(pa))
    }

    /// The frame mapped at `va`, if any.
    pub fn lookup(&self, va: u64) -> Option<u64> {
        let e = self.leaf(va, None).ok()??;
        (!e.is_unused()).then(|| e.addr().as_u64())
    }

    /// Changes the rights of the mapping at `va`, keeping accessed/dirty bits.
    pub fn protect(&mut self, va: u64, prot: Prot) -> Result<(), MapError> {
        let e = self.leaf(va, None)?.ok_or(MapError::NotUser)?;
        if e.is_unused() {
            return Err(MapError::NotUser);
        }
        let keep = e.flags() & (F::ACCESSED | F::DIRTY);
        let pa = e.addr();
        e.set_addr(pa, leaf_flags(prot) | keep);
        self.flush(va);
        Ok(())
    }

    /// Removes every user mapping of frame `pa`; returns how many.
    pub fn unmap_frame(&mut self, pa: u64) -> usize {
        let mut n = 0;
        let mut clear = |_va: u64, p: u64, e: &mut Entry| {
            if p == pa {
                e.set_unused();
                n += 1;
            }
        };
        walk(self.pml4, &mut clear, None);
        if self.is_current() {
            x86_64::instructions::tlb::flush_all();
        }
        n
    }

    /// Tears the address space down, calling `unref(pa)` for every mapped
    /// frame and `free_table(pa)` for every page-table frame (the caller
    /// holds the page records). It must not be current.
    pub fn destroy(self, mut unref: impl FnMut(u64), mut free_table: impl FnMut(u64)) {
        walk(self.pml4, &mut |_, pa, _| unref(pa), Some(&mut free_table));
        free_table(self.pml4);
    }
}

type Entry = x86_64::structures::paging::page_table::PageTableEntry;

/// Walks the user slots of `pml4`, calling `f` on each leaf, then
/// `free_table` on each intermediate table once done with it.
fn walk(
    pml4: u64,
    f: &mut dyn FnMut(u64, u64, &mut Entry),
    mut free_table: Option<&mut dyn FnMut(u64)>,
) {
    for i4 in 0..INFO_SLOT {
        let Some(pdpt) = existing(table(pml4), i4) else {
            continue;
        };
        for i3 in 0..512 {
            let Some(pd) = existing(table(pdpt), i3) else {
                continue;
            };
            for i2 in 0..512 {
                let Some(pt) = existing(table(pd), i2) else {
                    continue;
                };
                for i1 in 0..512 {
                    let e = &mut table(pt)[i1];
                    if !e.is_unused() {
                        let va = ((i4 as u64) << 39)
                            | ((i3 as u64) << 30)
                            | ((i2 as u64) << 21)
                            | ((i1 as u64) << 12);
                        let pa = e.addr().as_u64();
                        f(va, pa, e);
                    }
                }
                if let Some(free) = free_table.as_mut() {
                    free(pt);
                }
            }
            if let Some(free) = free_table.as_mut() {
                free(pd);
            }
        }
        if let Some(free) = free_table.as_mut() {
            free(pdpt);
        }
    }
}

/// Translates `va` in the address space rooted at `pml4`, requiring user
/// access at every level (and write access if `write`).
pub fn translate_in(pml4: u64, va: u64, write: bool) -> Option<u64> {
    if va >= USER_TOP {
        return None;
    }
    walk_user(pml4, va, write)
}

/// Like `translate_in` for reads, but also through the read-only windows
/// (page records, environment table, UVPT) every environment can read.
pub fn translate_read_in(pml4: u64, va: u64) -> Option<u64> {
    if va >= KERNEL_BASE {
        return None;
    }
    walk_user(pml4, va, false)
}

fn walk_user(pml4: u64, va: u64, write: bool) -> Option<u64> {
    let mut need = F::PRESENT | F::USER_ACCESSIBLE;
    if write {
        need |= F::WRITABLE;
    }
    let mut pa = pml4;
    for i in indices(va) {
        let e = &table(pa)[i];
        if !e.flags().contains(need) || e.flags().contains(F::HUGE_PAGE) {
            return None;
        }
        pa = e.addr().as_u64();
    }
    Some(pa + (va & (PAGE_SIZE - 1)))
}
