//! Library file systems on XN (thesis §4.5, §4.7). Each is written only
//! against [`exo_xn::api::XnCalls`], so the same code runs in a guest (over
//! the kernel's XN system calls, [`crate::xn`]) and on the host (over
//! [`exo_xn::api::Direct`], where the tests run).
//!
//! - [`cffs`]: a C-FFS-style Unix file system: inodes embedded in directory
//!   entries, small files' data allocated next to their directory block.
//! - [`flat`]: a flat object store (one table block of named extents).
//!
//! Both define their own metadata types (templates in UDF bytecode) and can
//! share one disk while distrusting each other: XN checks every change
//! against the owning libFS's own owns-udf and acl-uf.

pub mod cffs;
mod error;
pub mod flat;
mod install;
mod writeback;

pub use error::FsError;

#[cfg(test)]
mod tests;
