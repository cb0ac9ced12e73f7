//! System-call numbers and calling convention.
//!
//! `syscall` with the number in `rax` and arguments in `rdi, rsi, rdx, r10,
//! r8, r9`; the result comes back in `rax`: a value `>= 0` on success, or a
//! negated [`Error`] code. Calls that guard a resource take the slot of the
//! capability (in the caller's list) that proves the right to it.

/// `console_write(ptr, len) -> n`: write up to 4096 bytes to the console.
pub const CONSOLE_WRITE: u64 = 0;
/// `exit(status) -> !`: end the calling environment.
pub const EXIT: u64 = 1;
/// `ticks() -> n`: timer interrupts since boot.
pub const TICKS: u64 = 2;
/// `console_read(ptr, len) -> n`: read waiting console input (0 if none).
pub const CONSOLE_READ: u64 = 3;
/// `env_id() -> id`: the caller's environment id.
pub const ENV_ID: u64 = 4;
/// `p_alloc(ppn, guard_slot)`: take the named free page; its guard becomes
/// the capability in `guard_slot`.
pub const P_ALLOC: u64 = 5;
/// `p_free(ppn, slot)`: give back a page (no mapping may remain).
pub const P_FREE: u64 = 6;
/// `p_grant(ppn, slot, env)`: make `env` the page's owner.
pub const P_GRANT: u64 = 7;
/// `vm_batch(env, env_slot, ops, n) -> done`: apply [`crate::vm::VmOp`]s to
/// `env`'s page tables in order; stops at the first failure, returning how
/// many were done in `rax` and the failure's error code in `rdx` (0 if none).
pub const VM_BATCH: u64 = 8;
/// `cap_derive(src_slot, dst_slot, ext_ptr, ext_len, perm)`: store in
/// `dst_slot` the capability of `src_slot` extended by a name suffix.
pub const CAP_DERIVE: u64 = 9;
/// `cap_grant(src_slot, env, env_slot, dst_slot, perm)`: copy a capability
/// (which must carry PERM_GRANT) into another environment's list, keeping
/// only the permissions in `perm`.
pub const CAP_GRANT: u64 = 10;
/// `env_create(guard_slot) -> id`: a new environment guarded by that capability.
pub const ENV_CREATE: u64 = 11;
/// `env_set_entries(env, slot, entries_ptr)`: register upcall entry points.
pub const ENV_SET_ENTRIES: u64 = 12;
/// `env_set_context(env, slot, frame_ptr)`: set registers from a UTrapFrame.
pub const ENV_SET_CONTEXT: u64 = 13;
/// `env_run(env, slot)`: make a created environment runnable.
pub const ENV_RUN: u64 = 14;
/// `env_destroy(env, slot)`: end an environment.
pub const ENV_DESTROY: u64 = 15;
/// `slice_alloc(pos, env, slot)`: give time slice `pos` to `env`.
pub const SLICE_ALLOC: u64 = 16;
/// `slice_free(pos, slot)`: free a slice (slot controls its owner).
pub const SLICE_FREE: u64 = 17;
/// `yield_to(env)`: give the rest of this slice to `env` (`u64::MAX`: next in turn).
pub const YIELD: u64 = 18;
/// `donate(env)`: give the current time slice to `env` for good.
pub const DONATE: u64 = 19;
/// `pct(env, flags, ...)`: protected control transfer; the message is in
/// `rdx, r10, r8, r9, rbx, r12..r15`, delivered unchanged.
pub const PCT: u64 = 20;
/// `wakeup(terms_ptr, n)`: sleep until the predicate holds.
pub const WAKEUP: u64 = 21;
/// `revoke(env, slot, npages, ticks)`: ask `env` to give back pages within `ticks`.
pub const REVOKE: u64 = 22;
/// `cap_drop(slot)`: empty a slot of the caller's list.
pub const CAP_DROP: u64 = 23;

/// `blk_info() -> sectors`: size of the disk in 512-byte sectors (NoEnv: no disk).
pub const BLK_INFO: u64 = 24;
/// `blk_read(sector, ptr, len, slot)`: read `len` bytes (whole sectors, at
/// most 4 KiB) into user memory. Raw disk access needs a capability that
/// dominates the disk's (the root capability) until XN guards the disk.
pub const BLK_READ: u64 = 25;
/// `blk_write(sector, ptr, len, slot)`: write `len` bytes from user memory.
pub const BLK_WRITE: u64 = 26;
/// `blk_flush(slot)`: make written data durable.
pub const BLK_FLUSH: u64 = 27;

/// `net_info() -> mac`: the network device's MAC address in the low 48 bits
/// (byte 0 lowest; NoEnv: no network device).
pub const NET_INFO: u64 = 28;
/// `net_send(ptr, len, slot)`: transmit one Ethernet frame (14 to
/// [`NET_MAX_FRAME`] bytes) from user memory. Raw packet access needs a
/// capability that dominates the device's (the root capability) until DPF
/// demultiplexes the network.
pub const NET_SEND: u64 = 29;
/// `net_recv(ptr, len, slot) -> n`: take the oldest received frame into
/// user memory (0: none waiting; Invalid: `len` is smaller than the frame,
/// which stays queued).
pub const NET_RECV: u64 = 30;
/// `xn(args_ptr, slot) -> value`: an XN operation; see [`crate::xn`].
pub const XN: u64 = 31;
/// `net_send_gather(head_ptr, head_len, data_ptr, data_len, slot)`: transmit
/// one frame made of `head` (copied) and `data`, which the device reads
/// straight from the caller's pages (no copy; the pages are held, like one
/// more mapping, until the device is done). Same rights as NET_SEND.
pub const NET_SEND_GATHER: u64 = 38;
/// The largest frame the network calls carry (Ethernet without FCS).
pub const NET_MAX_FRAME: usize = 1514;

/// PCT flags.
pub mod pct {
    /// Run the target now with the rest of the caller's slice; the caller
    /// waits for the target's reply.
    pub const SYNC: u64 = 0;
    /// Queue the message; the target takes it at its next slice.
    pub const ASYNC: u64 = 1;
    /// Answer a synchronous call: the caller resumes with this message.
    pub const REPLY: u64 = 2;
}

/// Error codes, returned negated in `rax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Error {
    /// No such system call.
    NoSys = 1,
    /// A pointer argument does not name mapped user memory.
    Fault = 2,
    /// An argument is out of range or malformed.
    Invalid = 3,
    /// The named capability does not grant the access.
    Denied = 4,
    /// The page or slice is already taken.
    Taken = 5,
    /// Out of physical memory or table space.
    NoMem = 6,
    /// No such environment.
    NoEnv = 7,
    /// The resource is in use (e.g. a page still mapped, a message pending).
    Busy = 8,
    /// The device reported an error.
    Io = 9,
    /// XN refused the operation; its reason is in `rdx` (exo_xn::Error::code).
    Xn = 10,
}

impl Error {
    /// Decodes a negative system-call result.
    pub fn from_result(r: i64) -> Option<Error> {
        Some(match -r {
            1 => Error::NoSys,
            2 => Error::Fault,
            3 => Error::Invalid,
            4 => Error::Denied,
            5 => Error::Taken,
            6 => Error::NoMem,
            7 => Error::NoEnv,
            8 => Error::Busy,
            9 => Error::Io,
            10 => Error::Xn,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip() {
        for e in [
            Error::NoSys,
            Error::Fault,
            Error::Invalid,
            Error::Denied,
            Error::Taken,
            Error::NoMem,
            Error::NoEnv,
            Error::Busy,
            Error::Io,
            Error::Xn,
        ] {
            assert_eq!(Error::from_result(-(e as i64)), Some(e));
        }
        assert_eq!(Error::from_result(5), None);
    }
}
