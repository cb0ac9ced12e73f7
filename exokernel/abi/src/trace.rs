//! Kernel trace records: fixed-size, written by the kernel into a ring in
//! guest memory that the VMM reads without VM exits. The VMM finds the ring
//! through the kernel's `EXO_TRACE_ANCHOR` symbol.

/// `Anchor::magic` once tracing is on.
pub const ANCHOR_MAGIC: u64 = 0x4543_4152_544f_5845; // "EXOTRACE"
/// Name of the anchor's symbol in the kernel ELF.
pub const ANCHOR_SYMBOL: &str = "EXO_TRACE_ANCHOR";

/// Where the ring is and how far producer and consumer are.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Anchor {
    pub magic: u64,
    /// Guest-physical address of the ring of `nrec` records.
    pub ring_pa: u64,
    pub nrec: u64,
    /// Records written so far (the kernel advances it).
    pub head: u64,
    /// Records consumed so far (the VMM advances it).
    pub tail: u64,
    /// Records dropped because the ring was full.
    pub dropped: u64,
    /// Enabled classes.
    pub mask: u64,
    /// TSC ticks per millisecond, to turn timestamps into time.
    pub tsc_per_ms: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub tsc: u64,
    pub event: u16,
    /// Environment slot the event concerns (0: the kernel).
    pub env: u16,
    pub _pad: u32,
    pub a0: u64,
    pub a1: u64,
}

/// Event classes, switchable with `exo.trace=` (names in [`class_by_name`]).
pub mod class {
    pub const SCHED: u64 = 1;
    pub const PCT: u64 = 2;
    pub const FAULT: u64 = 4;
    pub const SYSCALL: u64 = 8;
    pub const MEM: u64 = 16;
    pub const DPF: u64 = 32;
    pub const XN: u64 = 64;
    /// Events a library OS records itself (`trace_note`), such as a Linux
    /// call its personality does not implement.
    pub const LIBOS: u64 = 128;
    /// Everything but system calls (the noisiest).
    pub const ALL: u64 = !SYSCALL;
}

/// The class named on the command line.
pub fn class_by_name(name: &str) -> Option<u64> {
    Some(match name {
        "sched" => class::SCHED,
        "pct" => class::PCT,
        "fault" => class::FAULT,
        "syscall" => class::SYSCALL,
        "mem" => class::MEM,
        "dpf" => class::DPF,
        "xn" => class::XN,
        "libos" => class::LIBOS,
        "all" => class::ALL,
        _ => return None,
    })
}

/// Events: `(a0, a1)` as documented.
pub mod event {
    /// The CPU goes from environment a0 to a1 (ids).
    pub const SWITCH: u16 = 1;
    /// Synchronous PCT to a0 (or asynchronous when a1 = 1).
    pub const PCT_CALL: u16 = 2;
    /// PCT reply to a0.
    pub const PCT_REPLY: u16 = 3;
    /// Fault: vector a0 at rip a1.
    pub const FAULT: u16 = 4;
    /// Upcall of kind a0 delivered.
    pub const UPCALL: u16 = 5;
    /// Environment a0 created.
    pub const ENV_CREATE: u16 = 6;
    /// Environment ended with status a0.
    pub const ENV_EXIT: u16 = 7;
    /// System call a0 returned a1.
    pub const SYSCALL: u16 = 8;
    /// Page a0 allocated by name.
    pub const P_ALLOC: u16 = 9;
    /// The abort protocol took a0 pages.
    pub const ABORT: u16 = 10;
    /// DPF filter a0 installed with a1 atoms (a1 = u64::MAX: refused).
    pub const DPF_INSERT: u16 = 11;
    /// DPF filter a0 removed.
    pub const DPF_REMOVE: u16 = 12;
    /// A received packet went to filter a0 (u32::MAX: no filter) after a1
    /// cycles of classification; `env` is the owner's slot.
    pub const DPF_VERDICT: u16 = 13;
    /// XN operation a0 (exo_abi::xn::op) answered a1 (0, XN's error code,
    /// or 0x10000 | a system-call error code when the kernel refused it).
    pub const XN_CALL: u16 = 14;
    /// Block a0 entered XN's registry with type a1.
    pub const XN_REG_INSERT: u16 = 15;
    /// Block a0 left XN's registry.
    pub const XN_REG_EVICT: u16 = 16;
    /// Block a0 became tainted (a1 = 1) or clean (a1 = 0).
    pub const XN_TAINT: u16 = 17;
    /// The UDF check of a change to block a0 answered a1 (0, or XN's error code).
    pub const XN_UDF: u16 = 18;
    /// An asynchronous message from a0 was lost: the receiver (`env`)
    /// could not take its upcall.
    pub const PCT_LOST: u16 = 19;
    /// A `syscall` with number a0 at rip a1 was reflected to the
    /// environment's own handler.
    pub const SYSCALL_REFLECTED: u16 = 20;
    /// (library OS) The Linux personality answered call a0 with ENOSYS:
    /// it does not implement it.
    pub const LINUX_ENOSYS: u16 = 21;
}

/// Whether a program may record event `e` with `trace_note` (the library
/// OS's own events; the kernel's cannot be forged).
pub fn is_libos_event(e: u64) -> bool {
    e == event::LINUX_ENOSYS as u64
}

/// A readable name of an event.
pub fn event_name(e: u16) -> &'static str {
    match e {
        event::SWITCH => "switch",
        event::PCT_CALL => "pct_call",
        event::PCT_REPLY => "pct_reply",
        event::FAULT => "fault",
        event::UPCALL => "upcall",
        event::ENV_CREATE => "env_create",
        event::ENV_EXIT => "env_exit",
        event::SYSCALL => "syscall",
        event::P_ALLOC => "p_alloc",
        event::ABORT => "abort",
        event::DPF_INSERT => "dpf_insert",
        event::DPF_REMOVE => "dpf_remove",
        event::DPF_VERDICT => "dpf_verdict",
        event::XN_CALL => "xn_call",
        event::XN_REG_INSERT => "xn_reg_insert",
        event::XN_REG_EVICT => "xn_reg_evict",
        event::XN_TAINT => "xn_taint",
        event::XN_UDF => "xn_udf",
        event::PCT_LOST => "pct_lost",
        event::SYSCALL_REFLECTED => "syscall_reflected",
        event::LINUX_ENOSYS => "linux_enosys",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_names() {
        assert_eq!(core::mem::size_of::<Record>(), 32);
        assert_eq!(class_by_name("pct"), Some(class::PCT));
        assert_eq!(class_by_name("nope"), None);
        assert_eq!(event_name(event::ABORT), "abort");
    }
}
