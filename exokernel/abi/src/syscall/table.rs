//! The system-call table: the one place a call is declared. From it come
//! [`Sysnum`], the argument structs in [`args`] (decoded by the kernel,
//! encoded by the libOS), and the names traces and errors show. A call's
//! arguments go in `rdi, rsi, rdx, r10, r8` in field order; its result in
//! `rax` (the type after `->`), an [`Error`](super::Error) as a negated code.
//! Calls that guard a resource take the slot of the capability (in the
//! caller's list) that proves the right to it.

use super::arg::{Bounded, CapSlot, EnvId, Perm, Ppn, UserAddr, UserArray, UserBytes, UserRef};
use crate::cap::CAP_NAME_LEN;
use crate::dpf::{FilterText, MAX_FILTER_TEXT};
use crate::env::{Entries, Resource, MAX_TAKEN, NSLICES};
use crate::layout::USER_TOP;
use crate::trap::UTrapFrame;
use crate::vm::{VmOp, MAX_BATCH};
use crate::wakeup::{WkTerm, MAX_TERMS};
use crate::xn::XnArgs;

/// Bytes anywhere in user space (the call bounds what it moves).
pub type AnyBytes = UserBytes<0, USER_TOP>;
/// A buffer for raw disk I/O: whole 512-byte sectors, at most one page.
pub type SectorBuf = UserBytes<0, 4096>;
/// A whole Ethernet frame without FCS.
pub type Frame = UserBytes<14, { super::NET_MAX_FRAME as u64 }>;
/// The copied head of a gather send.
pub type FrameHead = UserBytes<14, { super::NET_MAX_GATHER_HEAD as u64 }>;
/// The in-place payload of a gather send.
pub type FrameData = UserBytes<0, { super::NET_MAX_FRAME as u64 - 14 }>;
/// A position in the slice vector.
pub type SlicePos = Bounded<0, { NSLICES as u64 - 1 }>;
/// Times one `dpf_classify` may run the classifier: a few milliseconds at
/// most, since the kernel does nothing else meanwhile.
pub type ClassifyRepeat = Bounded<1, { crate::dpf::MAX_CLASSIFY_REPEAT }>;
/// Pages a revocation may ask for.
pub type RevokePages = Bounded<1, { MAX_TAKEN as u64 }>;

crate::enum_arg! {
    /// How a protected control transfer runs.
    pub enum PctKind {
        /// Run the target now with the rest of the caller's slice; the
        /// caller waits for the target's reply.
        Sync = 0,
        /// Queue the message; the target takes it at its next slice.
        Async = 1,
        /// Answer a synchronous call: the caller resumes with this message.
        Reply = 2,
    }
}

syscall_table! {
    /// Write up to 4096 bytes of `buf` to the console; returns how many.
    0 ConsoleWrite "console_write" { buf: AnyBytes } -> usize;
    /// End the calling environment with `status`.
    1 Exit "exit" { status: u8 } -> ();
    /// Timer interrupts since boot.
    2 Ticks "ticks" {} -> u64;
    /// Read waiting console input into `buf` (at most 256 bytes; 0: none).
    3 ConsoleRead "console_read" { buf: AnyBytes } -> usize;
    /// The caller's environment id.
    4 GetEnvId "env_id" {} -> EnvId;
    /// Take the named free page; its guard becomes the capability `guard`.
    5 PAlloc "p_alloc" { ppn: Ppn, guard: CapSlot } -> ();
    /// Give back a page (no mapping may remain).
    6 PFree "p_free" { ppn: Ppn, cap: CapSlot } -> ();
    /// Make `to` the page's owner.
    7 PGrant "p_grant" { ppn: Ppn, cap: CapSlot, to: EnvId } -> ();
    /// Apply `ops` to `env`'s page tables in order; stops at the first
    /// failure, returning how many were done, with the failure's error code
    /// in `rdx` (0 if none).
    8 VmBatch "vm_batch" { env: EnvId, cap: CapSlot, ops: UserArray<VmOp, 0, { MAX_BATCH as u64 }> } -> usize;
    /// Store in `dst` the capability `src` extended by the name suffix
    /// `ext`, with permissions `perm` (a subset of `src`'s).
    9 CapDerive "cap_derive" { src: CapSlot, dst: CapSlot, ext: UserBytes<0, { CAP_NAME_LEN as u64 }>, perm: Perm } -> ();
    /// Copy capability `src` (which must carry PERM_GRANT) into slot `dst`
    /// of `env`'s list, keeping only the permissions in `perm`.
    10 CapGrant "cap_grant" { src: CapSlot, env: EnvId, env_cap: CapSlot, dst: CapSlot, perm: Perm } -> ();
    /// A new environment guarded by capability `guard`, not yet runnable.
    11 EnvCreate "env_create" { guard: CapSlot } -> EnvId;
    /// Register `env`'s upcall entry points and exception stack.
    12 EnvSetEntries "env_set_entries" { env: EnvId, cap: CapSlot, entries: UserRef<Entries> } -> ();
    /// Set another environment's registers from a frame.
    13 EnvSetContext "env_set_context" { env: EnvId, cap: CapSlot, frame: UserRef<UTrapFrame> } -> ();
    /// Make a created environment runnable.
    14 EnvRun "env_run" { env: EnvId, cap: CapSlot } -> ();
    /// End an environment.
    15 EnvDestroy "env_destroy" { env: EnvId, cap: CapSlot } -> ();
    /// Give time slice `pos` to `env`.
    16 SliceAlloc "slice_alloc" { pos: SlicePos, env: EnvId, cap: CapSlot } -> ();
    /// Free slice `pos` (`cap` controls its owner).
    17 SliceFree "slice_free" { pos: SlicePos, cap: CapSlot } -> ();
    /// Give the rest of this slice to `to` (none: whoever is next in turn).
    18 Yield "yield" { to: Option<EnvId> } -> ();
    /// Give the current time slice to `to` for good.
    19 Donate "donate" { to: EnvId } -> ();
    /// Protected control transfer to `to`; the message is in
    /// `rdx, r10, r8, r9, rbx, r12..r15` (outside the argument registers:
    /// `rdx`, `r10` and `r8` are read as the message, not as arguments),
    /// delivered unchanged.
    20 Pct "pct" { to: EnvId, kind: PctKind } -> ();
    /// Sleep until the predicate `terms` holds.
    21 Wakeup "wakeup" { terms: UserArray<WkTerm, 1, { MAX_TERMS as u64 }> } -> ();
    /// Ask `env` to give back `npages` pages within `ticks`.
    22 Revoke "revoke" { env: EnvId, cap: CapSlot, npages: RevokePages, ticks: u64 } -> ();
    /// Empty a slot of the caller's list.
    23 CapDrop "cap_drop" { slot: CapSlot } -> ();
    /// Size of the disk in 512-byte sectors (NoEnv: no disk).
    24 BlkInfo "blk_info" {} -> u64;
    /// Read whole sectors into `buf` (raw disk access: a capability
    /// dominating the disk's, the root capability; Busy once XN holds it).
    25 BlkRead "blk_read" { sector: u64, buf: SectorBuf, cap: CapSlot } -> u64;
    /// Write whole sectors from `buf` (rights as for `blk_read`).
    26 BlkWrite "blk_write" { sector: u64, buf: SectorBuf, cap: CapSlot } -> u64;
    /// Make written data durable (rights as for `blk_write`).
    27 BlkFlush "blk_flush" { cap: CapSlot } -> ();
    /// The network device's MAC address in the low 48 bits, byte 0 lowest
    /// (NoEnv: no network device).
    28 NetInfo "net_info" {} -> u64;
    /// Transmit one frame: with the device's capability (the root), any
    /// frame; otherwise one the caller's DPF transmit filter accepts.
    29 NetSend "net_send" { frame: Frame, cap: CapSlot } -> ();
    /// Take the oldest received frame into `buf` (raw receive: the root
    /// capability); 0: none waiting; Invalid: `buf` is smaller than the
    /// frame, which stays queued.
    30 NetRecv "net_recv" { buf: AnyBytes, cap: CapSlot } -> usize;
    /// An XN operation (see [`crate::xn::XnCall`]) presenting capability
    /// `cap`; an XN refusal is Error::Xn with XN's own code in `rdx`.
    31 Xn "xn" { args: UserRef<XnArgs>, cap: CapSlot } -> u64;
    /// Install a DPF filter given as atoms in `exo dpf` syntax; returns its
    /// id. Invalid: malformed; Taken: it overlaps another environment's
    /// filter that was not shared; NoMem: a DPF limit.
    32 DpfInsert "dpf_insert" { text: FilterText } -> u32;
    /// Remove one of the caller's filters.
    33 DpfRemove "dpf_remove" { id: u32 } -> ();
    /// Let `to` (none: anyone) install filters overlapping filter `id`.
    34 DpfPermit "dpf_permit" { id: u32, to: Option<EnvId> } -> ();
    /// Register the caller's packet ring at `va` (page-aligned,
    /// MIN_RING_PAGES..=MAX_RING_PAGES pages mapped writable); 0 pages
    /// unregisters.
    35 NetRing "net_ring" { va: u64, npages: u64 } -> ();
    /// Demultiplex the packets the device holds now (the kernel also does
    /// at every tick and interrupt); returns how many were taken.
    36 NetPoll "net_poll" {} -> u64;
    /// The caller's frames must match this filter to be sent (against
    /// spoofing); an empty text removes it.
    37 DpfTxFilter "dpf_tx_filter" { text: UserBytes<0, { MAX_FILTER_TEXT as u64 }> } -> ();
    /// Transmit one frame made of `head` (copied) and `data`, which the
    /// device reads straight from the caller's pages (no copy; they are
    /// held, like one more mapping, until the device is done). Rights as
    /// for `net_send`.
    38 NetSendGather "net_send_gather" { head: FrameHead, data: FrameData, cap: CapSlot } -> ();
    /// Set `env`'s limit of one resource (see [`crate::env::Quota`]), at
    /// most the caller's own limit; the caller may not set its own.
    39 QuotaSet "quota_set" { env: EnvId, cap: CapSlot, resource: Resource, limit: u64 } -> ();
    /// Let holders of capability `reader` (with read permission on it)
    /// map the page read-only too; `cap` must control the page (write).
    40 PShare "p_share" { ppn: Ppn, cap: CapSlot, reader: CapSlot } -> ();
    /// Set the caller's FS and GS base registers (thread-local storage);
    /// each environment keeps its own across switches.
    41 SetBases "set_bases" { fs: UserAddr, gs: UserAddr } -> ();
    /// Record a library-OS event in the trace (class `libos`): `event` must
    /// be one of the library OS's ([`crate::trace::is_libos_event`]).
    42 TraceNote "trace_note" { event: u64, a0: u64, a1: u64 } -> ();
    /// Classify `frame` as a received packet, `repeat` times, without a
    /// device (Linux's BPF_PROG_TEST_RUN): the id of the caller's filter
    /// that claims it, or u32::MAX if none does; Taken: another
    /// environment's filter claims it (what `dpf_insert` tells anyway).
    43 DpfClassify "dpf_classify" { frame: Frame, repeat: ClassifyRepeat } -> u32;
}
