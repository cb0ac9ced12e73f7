//! Guest-virtual to guest-physical translation for the debugger: a walk of
//! the guest's 4-level page tables from CR3 in guest memory (4 KiB, 2 MiB
//! and 1 GiB pages). Addresses the tables do not map give None; nothing the
//! guest put in its tables can make the walk read outside guest memory.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const PRESENT: u64 = 1;
const HUGE: u64 = 1 << 7;
const ADDR: u64 = 0x000f_ffff_ffff_f000;

/// The guest-physical address of `va`, with paging as CR0/CR3 say.
pub fn translate(mem: &GuestMemoryMmap, paging: bool, cr3: u64, va: u64) -> Option<u64> {
    if !paging {
        return Some(va);
    }
    let mut table = cr3 & ADDR;
    for level in (1..=4).rev() {
        let shift = 12 + 9 * (level - 1);
        let index = (va >> shift) & 0x1ff;
        let entry: u64 = mem.read_obj(GuestAddress(table + index * 8)).ok()?;
        if entry & PRESENT == 0 {
            return None;
        }
        // A large page at level 3 (1 GiB) or 2 (2 MiB) ends the walk.
        if (level == 3 || level == 2) && entry & HUGE != 0 {
            let size = 1u64 << shift;
            return Some((entry & ADDR & !(size - 1)) | (va & (size - 1)));
        }
        table = entry & ADDR;
    }
    Some(table | (va & 0xfff))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(mem: &GuestMemoryMmap, at: u64, v: u64) {
        mem.write_obj(v, GuestAddress(at)).unwrap();
    }

    #[test]
    fn walks_4k_2m_and_1g_pages_and_refuses_holes() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 22)]).unwrap();
        let (pml4, pdpt, pd, pt) = (0x1000, 0x2000, 0x3000, 0x4000);
        // va 0x40_0000_0000 + ...: PML4[0] -> PDPT; PDPT[0] -> PD; PD[1] -> PT; PT[2] -> 0x9000.
        put(&mem, pml4, pdpt | 3);
        put(&mem, pdpt, pd | 3);
        put(&mem, pd + 8, pt | 3);
        put(&mem, pt + 16, 0x9000 | 3);
        assert_eq!(translate(&mem, true, pml4, 0x20_2123), Some(0x9123));
        // PD[2]: a 2 MiB page at 0x20_0000.
        put(&mem, pd + 16, 0x20_0000 | HUGE | 3);
        assert_eq!(translate(&mem, true, pml4, 0x40_1234), Some(0x20_1234));
        // PDPT[1]: a 1 GiB page at 0.
        put(&mem, pdpt + 8, HUGE | 3);
        assert_eq!(translate(&mem, true, pml4, 0x4000_5678), Some(0x5678));
        // Holes and tables outside memory.
        assert_eq!(translate(&mem, true, pml4, 0x20_3000), None);
        put(&mem, pml4 + 8, 0xffff_f000 | 3);
        assert_eq!(translate(&mem, true, pml4, 1 << 39), None);
        assert_eq!(translate(&mem, false, 0, 0x1234), Some(0x1234));
    }
}
