//! 4-level x86-64 page tables. Slot 255 of every PML4 is the kernel region
//! (all RAM at KERNEL_BASE + phys, shared by every address space); slots
//! 0..255 are user space.

use super::{frames, phys_to_virt, PAGE_SIZE};
use crate::arch::{cpu, lapic};
use exo_abi::boot::{KERNEL_BASE, USER_TOP};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as F, PhysFrame};
use x86_64::PhysAddr;

const KERNEL_SLOT: usize = (KERNEL_BASE >> 39) as usize & 511;
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

/// The next-level table under `entry`, allocated if absent.
fn next(parent: &mut PageTable, i: usize, flags: F) -> Result<u64, MapError> {
    let e = &mut parent[i];
    if e.is_unused() {
        let pa = frames::alloc().ok_or(MapError::OutOfMemory)?;
        e.set_addr(PhysAddr::new(pa), flags);
    } else if e.flags().contains(F::HUGE_PAGE) {
        return Err(MapError::AlreadyMapped);
    }
    Ok(e.addr().as_u64())
}

fn indices(va: u64) -> [usize; 4] {
    [
        (va >> 39) as usize & 511,
        (va >> 30) as usize & 511,
        (va >> 21) as usize & 511,
        (va >> 12) as usize & 511,
    ]
}

/// Physical address of the kernel's own PML4 (template of every address space).
static mut KERNEL_PML4: u64 = 0;

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
    let lapic_va = KERNEL_BASE + lapic::LAPIC_PHYS;
    let [_, i3, i2, i1] = indices(lapic_va);
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

/// A user address space: a PML4 whose kernel slot is shared.
pub struct AddressSpace {
    pub pml4: u64,
}

impl AddressSpace {
    pub fn new() -> Result<Self, MapError> {
        let pml4 = frames::alloc().ok_or(MapError::OutOfMemory)?;
        // SAFETY: KERNEL_PML4 is set once at boot before any address space exists.
        let kernel = table(unsafe { KERNEL_PML4 });
        table(pml4)[KERNEL_SLOT] = kernel[KERNEL_SLOT].clone();
        Ok(AddressSpace { pml4 })
    }

    /// Maps the 4 KiB page at `va` to frame `pa` for user access.
    pub fn map_user(
        &mut self,
        va: u64,
        pa: u64,
        writable: bool,
        executable: bool,
    ) -> Result<(), MapError> {
        if va >= USER_TOP || !va.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::NotUser);
        }
        let inner = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
        let [i4, i3, i2, i1] = indices(va);
        let pdpt = next(table(self.pml4), i4, inner)?;
        let pd = next(table(pdpt), i3, inner)?;
        let pt = next(table(pd), i2, inner)?;
        let e = &mut table(pt)[i1];
        if !e.is_unused() {
            return Err(MapError::AlreadyMapped);
        }
        let mut flags = F::PRESENT | F::USER_ACCESSIBLE;
        if writable {
            flags |= F::WRITABLE;
        }
        if !executable && cpu::has_nx() {
            flags |= F::NO_EXECUTE;
        }
        e.set_addr(PhysAddr::new(pa), flags);
        Ok(())
    }

    /// Makes this the current address space.
    pub fn activate(&self) {
        // SAFETY: the PML4 shares the kernel slot, so the kernel keeps running.
        unsafe {
            Cr3::write(
                PhysFrame::containing_address(PhysAddr::new(self.pml4)),
                Cr3Flags::empty(),
            )
        };
    }
}

/// Translates a user virtual address in the current address space, requiring
/// user access at every level (and write access if `write`).
pub fn translate_user(va: u64, write: bool) -> Option<u64> {
    if va >= USER_TOP {
        return None;
    }
    let mut need = F::PRESENT | F::USER_ACCESSIBLE;
    if write {
        need |= F::WRITABLE;
    }
    let (frame, _) = Cr3::read();
    let mut pa = frame.start_address().as_u64();
    for (level, i) in indices(va).into_iter().enumerate() {
        let e = &table(pa)[i];
        if !e.flags().contains(need) {
            return None;
        }
        if level > 0 && level < 3 && e.flags().contains(F::HUGE_PAGE) {
            let size = 1u64 << (39 - 9 * level);
            return Some(e.addr().as_u64() + (va & (size - 1)));
        }
        pa = e.addr().as_u64();
    }
    Some(pa + (va & (PAGE_SIZE - 1)))
}
