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
