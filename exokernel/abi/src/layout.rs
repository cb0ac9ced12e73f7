//! The address-space layout every environment sees. User mappings live below
//! [`USER_TOP`]; above it the kernel maps read-only windows onto its own
//! state (PML4 slots 253 and 254) and itself (slot 255, supervisor-only).

pub use crate::boot::KERNEL_BASE;

/// First address above what an environment may map itself.
pub const USER_TOP: u64 = 0x0000_7e80_0000_0000;
/// Page records, one [`crate::pages::PageInfo`] per physical page (read-only).
pub const UPAGES: u64 = 0x0000_7e80_0000_0000;
/// The environment table, one [`crate::env::EnvInfo`] per slot (read-only).
pub const UENVS: u64 = 0x0000_7e80_4000_0000;
/// The system information page ([`crate::env::SysInfo`], read-only).
pub const USYSINFO: u64 = 0x0000_7e80_8000_0000;
/// The recursive page-table window (PML4 slot 254, read-only): an
/// environment reads its own PTEs, accessed and dirty bits here.
pub const UVPT: u64 = 0x0000_7f00_0000_0000;
pub const UVPT_SLOT: u64 = 254;

/// The initrd, read-only in every environment (its size is in SysInfo).
pub const UINITRD: u64 = 0x0000_7e80_c000_0000;

/// XN's buffer-cache registry, read-only in every environment: an
/// [`crate::xn::RegistryHeader`] then `count` entries of
/// `exo_xn::registry::XrAttr` (block, parent, page, lock holder, type,
/// state), refreshed after every XN call.
pub const UXNREG: u64 = 0x0000_7e81_0000_0000;
pub const UXNREG_PAGES: u64 = 16;

/// Top of the first program's stack.
pub const USER_STACK_TOP: u64 = 0x0000_7e7f_ffff_0000;

const MASK39: u64 = (1 << 39) - 1;

/// Where the level-1 entry (PTE) mapping `va` appears in the UVPT window.
pub const fn pte_addr(va: u64) -> u64 {
    UVPT | ((va >> 9) & MASK39 & !7)
}
/// Where the level-2 entry (PDE) covering `va` appears.
pub const fn pde_addr(va: u64) -> u64 {
    UVPT | (UVPT_SLOT << 30) | ((va >> 18) & ((1 << 30) - 1) & !7)
}
/// Where the level-3 entry (PDPTE) covering `va` appears.
pub const fn pdpte_addr(va: u64) -> u64 {
    UVPT | (UVPT_SLOT << 30) | (UVPT_SLOT << 21) | ((va >> 27) & ((1 << 21) - 1) & !7)
}
/// Where the level-4 entry (PML4E) covering `va` appears.
pub const fn pml4e_addr(va: u64) -> u64 {
    UVPT | (UVPT_SLOT << 30) | (UVPT_SLOT << 21) | (UVPT_SLOT << 12) | ((va >> 36) & 0xff8)
}

/// x86 PTE bits an environment sees through the UVPT window.
pub mod pte {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const ACCESSED: u64 = 1 << 5;
    pub const DIRTY: u64 = 1 << 6;
    /// Bits 9..=11: software bits that belong to the libOS.
    pub const SOFT_MASK: u64 = 0x7 << 9;
    pub const NO_EXECUTE: u64 = 1 << 63;
    pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_window_addresses() {
        // The PTE of page 0 is the first entry of the window; of page 1 the next.
        assert_eq!(pte_addr(0), UVPT);
        assert_eq!(pte_addr(0x1000), UVPT + 8);
        assert_eq!(pte_addr(0x40_0000), UVPT + 0x40_0000 / 4096 * 8);
        // The PML4 itself appears at slot 254 of all four levels.
        assert_eq!(pml4e_addr(0), 0x7f3f_9fcf_e000);
        assert_eq!(pml4e_addr(UVPT), 0x7f3f_9fcf_e000 + 254 * 8);
        const { assert!(USER_STACK_TOP < USER_TOP && UPAGES >= USER_TOP && UVPT < KERNEL_BASE) };
    }
}
