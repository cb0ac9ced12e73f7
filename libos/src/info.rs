//! Reading what the kernel exposes read-only: page records, the environment
//! table, the system page, and this environment's own page tables (UVPT).

use exo_abi::env::{env_slot, EnvInfo, SysInfo, NENV};
use exo_abi::layout::{pde_addr, pdpte_addr, pml4e_addr, pte, pte_addr, UENVS, UPAGES, USYSINFO};
use exo_abi::pages::PageInfo;
use exo_abi::wakeup::{WkTerm, CMP_EQ, CMP_NE};

pub fn sysinfo() -> &'static SysInfo {
    // SAFETY: the kernel maps the system page read-only at USYSINFO in every environment.
    unsafe { &*(USYSINFO as *const SysInfo) }
}

/// The record of physical page `ppn`.
pub fn page(ppn: u64) -> Option<PageInfo> {
    if ppn >= sysinfo().npages {
        return None;
    }
    // SAFETY: the kernel maps `npages` records read-only at UPAGES.
    Some(unsafe {
        (UPAGES as *const PageInfo)
            .add(ppn as usize)
            .read_volatile()
    })
}

/// The environment-table entry of `id`, if that environment is alive.
pub fn env(id: u32) -> Option<EnvInfo> {
    let slot = env_slot(id);
    if slot >= NENV {
        return None;
    }
    // SAFETY: the kernel maps NENV entries read-only at UENVS.
    let e = unsafe { (UENVS as *const EnvInfo).add(slot).read_volatile() };
    (e.id == id && e.status != exo_abi::env::status::FREE).then_some(e)
}

/// The live environment in table slot `slot`, if any.
pub fn env_at(slot: usize) -> Option<EnvInfo> {
    if slot == 0 || slot >= NENV {
        return None;
    }
    // SAFETY: the kernel maps NENV entries read-only at UENVS.
    let e = unsafe { (UENVS as *const EnvInfo).add(slot).read_volatile() };
    (e.id != 0 && e.status != exo_abi::env::status::FREE).then_some(e)
}

/// The exit status the kernel recorded for ended environment `id`, if its
/// slot has not been reused.
pub fn exit_status(id: u32) -> Option<u8> {
    let slot = env_slot(id);
    if slot >= NENV {
        return None;
    }
    // SAFETY: as in `env`.
    let e = unsafe { (UENVS as *const EnvInfo).add(slot).read_volatile() };
    (e.id == id && e.status == exo_abi::env::status::FREE).then_some(e.exit_status as u8)
}

/// Address of the environment-table entry of `id` (for wakeup predicates).
pub fn env_addr(id: u32) -> u64 {
    UENVS + (env_slot(id) * core::mem::size_of::<EnvInfo>()) as u64
}

/// A wakeup predicate that holds once environment `id` has ended: its
/// entry is free, or the slot holds another environment.
pub fn env_gone_terms(id: u32) -> [WkTerm; 3] {
    let base = env_addr(id);
    let status = base + core::mem::offset_of!(EnvInfo, status) as u64;
    [
        WkTerm::mem(status, 4, CMP_EQ, exo_abi::env::status::FREE as u64),
        WkTerm::OR,
        WkTerm::mem(base, 4, CMP_NE, id as u64),
    ]
}

fn read(addr: u64) -> u64 {
    // SAFETY: UVPT is mapped read-only in every environment; callers check
    // the upper levels are present before reading a lower one.
    unsafe { (addr as *const u64).read_volatile() }
}

/// The first page at or after `va` (and before `end`) whose page tables
/// exist, skipping 512 GiB, 1 GiB or 2 MiB at a time where a whole table is
/// missing; walks of a sparse address space stay cheap.
pub fn next_candidate(mut va: u64, end: u64) -> Option<u64> {
    const SPANS: [u64; 3] = [1 << 39, 1 << 30, 1 << 21];
    'outer: while va < end {
        for (up, span) in [pml4e_addr(va), pdpte_addr(va), pde_addr(va)]
            .into_iter()
            .zip(SPANS)
        {
            if read(up) & pte::PRESENT == 0 {
                va = (va | (span - 1)) + 1;
                continue 'outer;
            }
        }
        return Some(va);
    }
    None
}

/// Every page mapped in `[lo, hi)` with its PTE, in address order. Within
/// a 2 MiB span whose page table exists, the entries are read in a row
/// (fork walks every page it shares: a full walk per page cost seven
/// reads where one does).
pub fn mapped(lo: u64, hi: u64) -> impl Iterator<Item = (u64, u64)> {
    const SPAN: u64 = 1 << 21;
    let mut va = lo;
    // The end of the span `va` is in, if its page table exists.
    let mut known = 0;
    core::iter::from_fn(move || loop {
        if va >= known {
            va = next_candidate(va, hi)?;
            known = (va | (SPAN - 1)) + 1;
        }
        if va >= hi {
            return None;
        }
        let at = va;
        va += 4096;
        // The page table holding `at`'s entry exists (checked for its span;
        // page tables are only ever freed with the whole address space).
        let e = read(pte_addr(at));
        if e & pte::PRESENT != 0 {
            return Some((at, e));
        }
    })
}

/// The physical address of this environment's top-level page table (its
/// own entry in the recursive slot), read without a call: no two live
/// environments share it.
pub fn page_table_root() -> u64 {
    read(exo_abi::layout::pml4e_addr(exo_abi::layout::UVPT)) & pte::ADDR_MASK
}

/// The PTE mapping `va` in this environment (0 if none), read without a call.
pub fn pte(va: u64) -> u64 {
    for up in [pml4e_addr(va), pdpte_addr(va), pde_addr(va)] {
        if read(up) & pte::PRESENT == 0 {
            return 0;
        }
    }
    read(pte_addr(va))
}
