//! Where things are in the probe's guests, and the host's selectors and MSRs.

/// Guest RAM: 32 MiB from GPA 0, identity-mapped.
pub const MEM: u64 = 32 << 20;
/// The page tables: PML4, PDPT, PD (2 MiB pages).
pub const PML4: u64 = 0x1000;
pub const PDPT: u64 = 0x2000;
pub const PD: u64 = 0x3000;
pub const PDPT_HIGH: u64 = 0x4000;
/// The top-2-GiB alias of guest-physical 0.
pub const HIGH_ALIAS: u64 = 0xffff_ffff_8000_0000;
/// A GDT in the Linux layout (the host's selectors).
pub const GDT_ADDR: u64 = 0x5000;
/// The PVM vCPU struct (PVCS) page.
pub const PVCS: u64 = 0x6000;
/// Supervisor code (in a U=0 2 MiB page) and its stack top.
pub const SUP_CODE: u64 = 0x10_0000;
pub const SUP_STACK: u64 = 0x9_0000;
/// User code, user stack top and the result page (U=1 pages).
pub const USER_CODE: u64 = 0x20_0000;
pub const USER_STACK: u64 = 0x28_0000;
pub const RES: u64 = 0x30_0000;
/// 2 MiB pages [USER_FIRST, USER_LAST] are mapped with U=1.
pub const USER_PAGES: std::ops::RangeInclusive<u64> = 1..=1;

/// Linux's GDT layout, which is the host's: the selectors PVM requires.
pub const KERNEL32_CS: u16 = 0x08;
pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const GDT: [u64; 7] = [
    0,
    0x00cf_9b00_0000_ffff, // 0x08 kernel 32-bit code
    0x00af_9b00_0000_ffff, // 0x10 kernel 64-bit code
    0x00cf_9300_0000_ffff, // 0x18 kernel data
    0x00cf_fb00_0000_ffff, // 0x20 user 32-bit code, DPL 3
    0x00cf_f300_0000_ffff, // 0x28 user data, DPL 3
    0x00af_fb00_0000_ffff, // 0x30 user 64-bit code, DPL 3
];

pub const MSR_STAR: u32 = 0xc000_0081;
pub const MSR_LSTAR: u32 = 0xc000_0082;
pub const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
pub const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
/// STAR as Linux sets it: kernel CS 0x10 in 47:32, user32 CS 0x23 in 63:48.
pub const STAR_VALUE: u64 = ((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);

/// The PVM virtual MSRs of the two public revisions of the spec.
pub const PVM_MSRS_V1: [(u32, &str); 7] = [
    (0x4b56_4df0, "LINEAR_ADDRESS_RANGE(v1)"),
    (0x4b56_4df1, "VCPU_STRUCT(v1)"),
    (0x4b56_4df2, "SWITCH_CR3(v1)"),
    (0x4b56_4df3, "SUPERVISOR_RSP(v1)"),
    (0x4b56_4df4, "EVENT_ENTRY(v1)"),
    (0x4b56_4df5, "RETU_RIP(v1)"),
    (0x4b56_4df6, "RETS_RIP(v1)"),
];
pub const PVM_MSRS_V2: [(u32, &str); 4] = [
    (0x4b56_4d20, "VCPU_STRUCT(v2)"),
    (0x4b56_4d21, "EVENT_ENTRY(v2)"),
    (0x4b56_4d22, "RETU_RIP(v2)"),
    (0x4b56_4d23, "FEATURES_ENABLED(v2)"),
];

/// The port the guest writes to say it is done; other ports are phase marks.
pub const PORT_DONE: u16 = 0xf4;
/// The port at which the VMM injects an interrupt (vector 0x40).
pub const PORT_INJECT: u16 = 0x82;
