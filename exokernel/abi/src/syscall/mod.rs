//! The system-call interface: the calling convention, the table of every
//! call ([`table`]), the types its arguments decode into ([`arg`]) and the
//! errors calls return.
//!
//! `syscall` with the number ([`Sysnum`]) in `rax` and arguments in
//! `rdi, rsi, rdx, r10, r8`; the result comes back in `rax`: a value `>= 0`
//! on success, or a negated [`Error`] code.

pub mod arg;
#[macro_use]
mod table_macro;
mod table;

pub use table::*;
pub use table_macro::SysCall;

/// The largest frame the network calls carry (Ethernet without FCS).
pub const NET_MAX_FRAME: usize = 1514;
/// The longest head a gather send copies.
pub const NET_MAX_GATHER_HEAD: usize = 128;

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
    /// The charge would exceed the page budget of the caller (or of an
    /// ancestor): see [`crate::env::Quota`].
    Quota = 11,
}

impl Error {
    /// Its name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Error::NoSys => "no such call",
            Error::Fault => "bad address",
            Error::Invalid => "invalid argument",
            Error::Denied => "denied",
            Error::Taken => "taken",
            Error::NoMem => "out of memory",
            Error::NoEnv => "no such environment or device",
            Error::Busy => "busy",
            Error::Io => "I/O error",
            Error::Xn => "refused by XN",
            Error::Quota => "over quota",
        }
    }

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
            11 => Error::Quota,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::SysCall;

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
            Error::Quota,
        ] {
            assert_eq!(Error::from_result(-(e as i64)), Some(e));
        }
        assert_eq!(Error::from_result(5), None);
    }

    #[test]
    fn the_table_is_dense_and_named_once() {
        for (i, n) in Sysnum::ALL.iter().enumerate() {
            assert_eq!(*n as u64, i as u64, "numbers follow the table");
            assert_eq!(Sysnum::from_u64(i as u64), Some(*n));
            assert!(n.nregs() <= arg::NREGS);
            let same = Sysnum::ALL.iter().filter(|m| m.name() == n.name());
            assert_eq!(same.count(), 1, "{} named twice", n.name());
        }
        assert_eq!(Sysnum::from_u64(Sysnum::ALL.len() as u64), None);
    }

    #[test]
    fn arguments_round_trip_through_registers() {
        let text = b"12:2=0x0800";
        let a = args::CapGrant {
            src: arg::CapSlot::of(1),
            env: arg::EnvId(0x102),
            env_cap: arg::CapSlot::of(0),
            dst: arg::CapSlot::of(15),
            perm: arg::Perm::of(crate::cap::PERM_READ),
        };
        assert_eq!(args::CapGrant::decode(&a.encode()), Ok(a));
        let d = args::DpfInsert {
            text: arg::UserBytes::of(text),
        };
        assert_eq!(args::DpfInsert::decode(&d.encode()), Ok(d));
        let y = args::Yield { to: None };
        assert_eq!(y.encode(), [0; 5]);
        assert_eq!(
            args::Yield::decode(&[7, 0, 0, 0, 0]).map(|y| y.to),
            Ok(Some(arg::EnvId(7)))
        );
    }

    #[test]
    fn decoding_refuses_what_the_types_forbid() {
        use crate::layout::USER_TOP;
        // A gather send whose lengths would wrap when added.
        let huge = args::NetSendGather::decode(&[0x1000, 64, 0x2000, u64::MAX - 10, 0]);
        assert_eq!(huge, Err(Error::Invalid));
        // A payload running past the end of user space.
        let past = args::NetSendGather::decode(&[0x1000, 64, USER_TOP - 4, 100, 0]);
        assert_eq!(past, Err(Error::Fault));
        // A buffer that wraps around the address space.
        let wrap = args::ConsoleWrite::decode(&[u64::MAX - 4, 16, 0, 0, 0]);
        assert_eq!(wrap, Err(Error::Fault));
        // Slots, slices, permissions and flags out of range.
        assert_eq!(
            args::CapDrop::decode(&[16, 0, 0, 0, 0]),
            Err(Error::Invalid)
        );
        assert_eq!(
            args::SliceFree::decode(&[32, 0, 0, 0, 0]),
            Err(Error::Invalid)
        );
        assert_eq!(
            args::CapDerive::decode(&[0, 1, 0x1000, 4, 8]),
            Err(Error::Invalid)
        );
        assert_eq!(args::Pct::decode(&[0x101, 3, 0, 0, 0]), Err(Error::Invalid));
        assert_eq!(args::Exit::decode(&[256, 0, 0, 0, 0]), Err(Error::Invalid));
        assert_eq!(
            args::PAlloc::decode(&[1 << 40, 0, 0, 0, 0]),
            Err(Error::Invalid)
        );
        // Arrays whose byte size would overflow.
        assert_eq!(
            args::VmBatch::decode(&[0x101, 0, 0x1000, 100_000, 0]),
            Err(Error::Invalid)
        );
        assert_eq!(
            args::Wakeup::decode(&[0x1000, 0, 0, 0, 0]),
            Err(Error::Invalid)
        );
        // Frames outside Ethernet's sizes.
        assert_eq!(
            args::NetSend::decode(&[0x1000, 13, 0, 0, 0]),
            Err(Error::Invalid)
        );
        assert_eq!(
            args::NetSend::decode(&[0x1000, 1515, 0, 0, 0]),
            Err(Error::Invalid)
        );
    }
}
