//! Physical page-frame allocator over the e820 RAM regions, minus the kernel
//! image, the initrd and the boot data. Fresh frames are handed out from the
//! regions in order; freed frames go on a stack threaded through themselves.

use super::{phys_to_virt, PAGE_SIZE};
use crate::pvh::{BootInfo, Range, MAX_REGIONS};
use spin::Mutex;

struct Frames {
    free: [Range; MAX_REGIONS * 2],
    count: usize,
    /// Head of the stack of freed frames (physical address, 0 = empty).
    freed: u64,
    total: u64,
    used: u64,
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames {
    free: [Range { start: 0, end: 0 }; MAX_REGIONS * 2],
    count: 0,
    freed: 0,
    total: 0,
    used: 0,
});

fn align_up(x: u64) -> u64 {
    x.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Removes `hole` from the region list, splitting a region if needed.
fn carve(f: &mut Frames, hole: Range) {
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

/// Builds the free list from the boot memory map. `kernel` is the kernel
/// image's physical range. Returns the number of usable bytes.
pub fn init(boot: &BootInfo, kernel: Range) -> u64 {
    let mut f = FRAMES.lock();
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
    f.total = f.free[..f.count].iter().map(|r| r.end - r.start).sum();
    f.total
}

/// Allocates one zeroed 4 KiB frame, returning its physical address.
pub fn alloc() -> Option<u64> {
    let mut f = FRAMES.lock();
    let pa = if f.freed != 0 {
        let pa = f.freed;
        // SAFETY: a freed frame holds the next link in its first word.
        f.freed = unsafe { (phys_to_virt(pa) as *const u64).read() };
        pa
    } else {
        let i = (0..f.count).find(|&i| f.free[i].start < f.free[i].end)?;
        let pa = f.free[i].start;
        f.free[i].start += PAGE_SIZE;
        pa
    };
    f.used += PAGE_SIZE;
    drop(f);
    // SAFETY: the frame is RAM we own, mapped in the kernel region.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa), 0, PAGE_SIZE as usize) };
    Some(pa)
}

/// Returns a frame obtained from `alloc`.
pub fn free(pa: u64) {
    let mut f = FRAMES.lock();
    // SAFETY: the caller gives back a frame it owns; it is mapped in the kernel region.
    unsafe { (phys_to_virt(pa) as *mut u64).write(f.freed) };
    f.freed = pa;
    f.used -= PAGE_SIZE;
}
