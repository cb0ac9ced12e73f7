//! Physical pages. At boot, free RAM is a list of ranges (the e820 map minus
//! the kernel image, initrd and boot data) from which contiguous runs are
//! carved for the kernel's tables; then every page gets an ownership record
//! (`exo_kcore::pages`) and all later allocation, by the kernel or by
//! environments naming pages, goes through the records.

use super::{phys_to_virt, PAGE_SIZE};
use crate::pvh::{BootInfo, Range, MAX_REGIONS};
use exo_abi::pages::PageInfo;
use exo_kcore::pages::{Link, Pages};
use spin::Mutex;

struct BootRanges {
    free: [Range; MAX_REGIONS * 2],
    count: usize,
}

static BOOT: Mutex<BootRanges> = Mutex::new(BootRanges {
    free: [Range { start: 0, end: 0 }; MAX_REGIONS * 2],
    count: 0,
});

/// The page records, once built.
pub static PAGES: Mutex<Option<Pages<'static>>> = Mutex::new(None);

fn align_up(x: u64) -> u64 {
    x.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Removes `hole` from the range list, splitting a range if needed.
fn carve(f: &mut BootRanges, hole: Range) {
    let (hs, he) = (hole.start & !(PAGE_SIZE - 1), align_up(hole.end));
    let mut i = 0;
    while i < f.count {
        let r = f.free[i];
        if he <= r.start || hs >= r.end {
            i += 1;
            continue;
        }
        let (left, right) = (
            Range {
                start: r.start,
                end: hs,
            },
            Range {
                start: he,
                end: r.end,
            },
        );
        let mut keep = [left, right].into_iter().filter(|p| p.start < p.end);
        match (keep.next(), keep.next()) {
            (Some(a), Some(b)) if f.count < f.free.len() => {
                f.free[i] = a;
                f.free[f.count] = b;
                f.count += 1;
            }
            (Some(a), _) => f.free[i] = a,
            (None, _) => {
                f.free[i] = f.free[f.count - 1];
                f.count -= 1;
                continue;
            }
        }
        i += 1;
    }
}

/// Builds the free ranges from the boot memory map. `kernel` is the kernel
/// image's physical range. Returns the number of usable bytes.
pub fn init(boot: &BootInfo, kernel: Range) -> u64 {
    let mut f = BOOT.lock();
    for r in &boot.ram[..boot.ram_count] {
        // Below 1 MiB lives firmware and boot data: never hand it out.
        let start = align_up(r.start.max(0x10_0000));
        let end = r.end & !(PAGE_SIZE - 1);
        if start < end && f.count < MAX_REGIONS {
            let n = f.count;
            f.free[n] = Range { start, end };
            f.count += 1;
        }
    }
    carve(&mut f, kernel);
    if let Some(initrd) = boot.initrd {
        carve(&mut f, initrd);
    }
    for d in boot.boot_data.iter().filter(|d| d.start < d.end) {
        carve(&mut f, *d);
    }
    f.free[..f.count].iter().map(|r| r.end - r.start).sum()
}

/// Takes `pages` physically contiguous zeroed pages from the boot ranges.
fn boot_alloc(pages: u64) -> Option<u64> {
    let mut f = BOOT.lock();
    let bytes = pages * PAGE_SIZE;
    let n = f.count;
    let r = f.free[..n].iter_mut().find(|r| r.end - r.start >= bytes)?;
    let pa = r.start;
    r.start += bytes;
    // SAFETY: free RAM, mapped in the kernel region.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, bytes as usize) };
    Some(pa)
}

/// Allocates one zeroed page for the kernel.
pub fn alloc() -> Option<u64> {
    let ppn = match PAGES.lock().as_mut() {
        Some(p) => p.alloc_kernel()?,
        None => return boot_alloc(1),
    };
    let pa = ppn * PAGE_SIZE;
    // SAFETY: a page just taken from the free records, mapped in the kernel region.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, PAGE_SIZE as usize) };
    Some(pa)
}

/// Gives back a page [`alloc`] returned.
pub fn free(pa: u64) {
    if let Some(p) = PAGES.lock().as_mut() {
        p.free_kernel(pa / PAGE_SIZE);
    }
}

/// Pages no one holds now.
pub fn free_pages() -> u64 {
    PAGES.lock().as_ref().map_or(0, |p| p.free_count() as u64)
}

/// Pages environment `env` owns.
pub fn owned_by(env: u32) -> u64 {
    PAGES
        .lock()
        .as_ref()
        .map_or(0, |p| p.owned_by(env).count() as u64)
}

/// Holds an environment's page while a device reads it.
pub fn pin(ppn: u64) -> bool {
    PAGES.lock().as_mut().is_some_and(|p| p.pin(ppn).is_ok())
}

/// Releases a [`pin`].
pub fn unpin(ppn: u64) {
    if let Some(p) = PAGES.lock().as_mut() {
        p.unref(ppn);
    }
}

/// Allocates `pages` contiguous zeroed pages for kernel tables at boot.
pub fn alloc_contiguous(pages: u64) -> Option<u64> {
    boot_alloc(pages)
}

/// Builds the page records for RAM up to `ram_end`: what is still in the boot
/// ranges is free, `public` (the initrd) is public, everything else RAM is
/// the kernel's. Returns the physical
/// range of the record table (to be mapped read-only for environments).
pub fn build_records(ram_end: u64, ram: &[Range], public: Option<Range>) -> Option<Range> {
    let npages = ram_end.div_ceil(PAGE_SIZE) as usize;
    let bytes = (npages * core::mem::size_of::<PageInfo>()) as u64;
    let pa = boot_alloc(bytes.div_ceil(PAGE_SIZE))?;
    let link_bytes = (npages * core::mem::size_of::<Link>()) as u64;
    let links_pa = boot_alloc(link_bytes.div_ceil(PAGE_SIZE))?;
    // SAFETY: fresh contiguous runs of RAM the kernel keeps for good, mapped
    // in the kernel region, sized for `npages` records and links.
    let (recs, links) = unsafe {
        (
            core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut PageInfo, npages),
            core::slice::from_raw_parts_mut(phys_to_virt(links_pa) as *mut Link, npages),
        )
    };
    let mut pages = Pages::new(recs, links);
    // All RAM is the kernel's unless it is still in a free range.
    for r in ram {
        let (first, end) = (
            (r.start.div_ceil(PAGE_SIZE)) as usize,
            (r.end / PAGE_SIZE) as usize,
        );
        for ppn in first..end.min(npages) {
            pages.reserve(ppn);
        }
    }
    let f = BOOT.lock();
    for r in &f.free[..f.count] {
        pages.add_ram(
            (r.start / PAGE_SIZE) as usize,
            ((r.end / PAGE_SIZE) as usize).min(npages),
        );
    }
    drop(f);
    // The initrd (every environment reads it through its window) may be
    // mapped read-only anywhere, by anyone.
    if let Some(r) = public {
        for ppn in r.start / PAGE_SIZE..align_up(r.end) / PAGE_SIZE {
            pages.make_public(ppn as usize);
        }
    }
    *PAGES.lock() = Some(pages);
    Some(Range {
        start: pa,
        end: pa + align_up(bytes),
    })
}
