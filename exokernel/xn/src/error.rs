//! XN's error codes (`xn_err_t`): every refusal names its reason, so adversarial tests
//! can tell "refused for the right reason" from "refused by accident".

use crate::disk::DiskError;
use crate::udf::{Fault, VerifyError};
use core::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The disk failed.
    Disk(DiskError),
    /// The image is not an XN disk or its bookkeeping is corrupt.
    BadImage(&'static str),
    /// The disk was not shut down cleanly: run reconstruction first (`sys_xn_init`).
    NeedsRecovery,
    /// Opened read-only.
    ReadOnly,
    /// A block number outside the disk or inside XN's own area.
    BadBlock,
    /// A requested block is not on the free list.
    NotFree,
    /// A block the operation needs is not in the registry / not in core.
    NotInCore,
    /// The block's type is not known yet (read without a parent).
    Unbound,
    /// Capability insufficient or acl-uf said no.
    AccessDenied,
    /// owns-udf / refcnt-udf output does not match the claimed modification.
    BogusUpdate,
    /// A modification touched bytes another owns partition reads.
    PartitionViolation,
    /// writeb tried to change bytes a UDF reads (only alloc/free/add_edge may).
    ProtectedBytes,
    /// Bad partition id.
    BadPartition,
    /// A modification vector names bytes outside the block.
    BadRange,
    /// A UDF faulted when run on the proposed state.
    Udf(Fault),
    /// A template failed verification.
    Verify(VerifyError),
    /// Bad or unusable type for this operation.
    BadType,
    /// The block is metadata where data was needed or the reverse.
    NotMetadata,
    /// Writing would put a pointer to uninitialized metadata on disk.
    Tainted,
    /// Locked by another environment.
    Locked,
    /// Dirty blocks prevent the operation.
    Dirty,
    /// No such catalogue name.
    NoSuchName,
    /// The catalogue name exists already.
    Exists,
    /// The catalogue is full.
    CatalogueFull,
    /// No free blocks or no free pages.
    NoSpace,
    /// A metadata block still owns blocks.
    NotEmpty,
    /// The type or root is in use.
    InUse,
    /// The root was marked tainted by reconstruction (bad reference counts).
    RootTainted,
    /// A bad name (empty, too long, not UTF-8).
    BadName,
}

impl From<DiskError> for Error {
    fn from(e: DiskError) -> Self {
        Error::Disk(e)
    }
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Self {
        Error::Udf(f)
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Verify(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Disk(e) => write!(f, "disk error: {e}"),
            Error::BadImage(w) => write!(f, "not a valid XN image: {w}"),
            Error::Udf(x) => write!(f, "UDF fault: {x:?}"),
            Error::Verify(v) => write!(f, "template rejected by the verifier: {v:?}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl Error {
    /// A number for the error, for carrying it across the system-call
    /// boundary (1-based, stable).
    pub fn code(&self) -> u32 {
        match self {
            Error::Disk(_) => 1,
            Error::BadImage(_) => 2,
            Error::NeedsRecovery => 3,
            Error::ReadOnly => 4,
            Error::BadBlock => 5,
            Error::NotFree => 6,
            Error::NotInCore => 7,
            Error::Unbound => 8,
            Error::AccessDenied => 9,
            Error::BogusUpdate => 10,
            Error::PartitionViolation => 11,
            Error::ProtectedBytes => 12,
            Error::BadPartition => 13,
            Error::BadRange => 14,
            Error::Udf(_) => 15,
            Error::Verify(_) => 16,
            Error::BadType => 17,
            Error::NotMetadata => 18,
            Error::Tainted => 19,
            Error::Locked => 20,
            Error::Dirty => 21,
            Error::NoSuchName => 22,
            Error::Exists => 23,
            Error::CatalogueFull => 24,
            Error::NoSpace => 25,
            Error::NotEmpty => 26,
            Error::InUse => 27,
            Error::RootTainted => 28,
            Error::BadName => 29,
        }
    }

    /// The error [`Error::code`] gave; details of disk, image, UDF and
    /// verifier errors do not cross the boundary (the kernel logs them).
    pub fn from_code(code: u32) -> Option<Error> {
        Some(match code {
            1 => Error::Disk(DiskError::Io),
            2 => Error::BadImage("reported by the kernel"),
            3 => Error::NeedsRecovery,
            4 => Error::ReadOnly,
            5 => Error::BadBlock,
            6 => Error::NotFree,
            7 => Error::NotInCore,
            8 => Error::Unbound,
            9 => Error::AccessDenied,
            10 => Error::BogusUpdate,
            11 => Error::PartitionViolation,
            12 => Error::ProtectedBytes,
            13 => Error::BadPartition,
            14 => Error::BadRange,
            15 => Error::Udf(Fault::Unverified),
            16 => Error::Verify(VerifyError::TooLong),
            17 => Error::BadType,
            18 => Error::NotMetadata,
            19 => Error::Tainted,
            20 => Error::Locked,
            21 => Error::Dirty,
            22 => Error::NoSuchName,
            23 => Error::Exists,
            24 => Error::CatalogueFull,
            25 => Error::NoSpace,
            26 => Error::NotEmpty,
            27 => Error::InUse,
            28 => Error::RootTainted,
            29 => Error::BadName,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 1..=29 {
            assert_eq!(Error::from_code(c).unwrap().code(), c);
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(30), None);
    }
}
