//! XN: fine-grained, protected disk multiplexing for the exokernel (thesis ch. 4, 8).
//!
//! Library file systems keep their own metadata in their own formats; XN learns what a
//! metadata block controls by running the libFS's *owns-udf* on it, and verifies every
//! modification inductively: `owns(new) == owns(old) ± the extent being (de)allocated`.
//! UDFs are a small register bytecode ([`udf`]) that the kernel verifies (bounded,
//! deterministic for owns/refcnt) and interprets.
//!
//! The crate is `no_std + alloc` so the kernel links it; on the host it runs against
//! [`disk::MemDisk`] (tests) or a file (the `exo xn` tools). See README.md for the map
//! from the thesis' `sys_xn_*` calls to [`Xn`] methods.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod api;
pub mod catalogue;
pub mod disk;
pub mod error;
pub mod freemap;
mod io;
pub mod layout;
mod meta;
mod ops;
pub mod owns;
pub mod recovery;
pub mod registry;
pub mod sample;
pub mod taint;
pub mod template;
pub mod trace;
pub mod udf;
mod willfree;
pub mod xn;

#[cfg(test)]
mod tests;

pub use disk::{Disk, DiskError, MemDisk};
pub use error::Error;
pub use registry::{PageId, PageStore, VecPageStore};
pub use xn::{Cred, Init, Mod, MountKind, Update, Xn};

/// Disk block size in bytes: one x86-64 page, so a cached block is one physical page.
pub const BLOCK_SIZE: usize = 4096;

/// A disk block number.
pub type Db = u64;

/// A block image.
pub type Block = [u8; BLOCK_SIZE];

/// A metadata type. Ids 0..16 are XN's built-ins; a libFS type's id is
/// `FIRST_USER_TYPE + its root catalogue slot`, so ids are persistent and can be
/// baked into UDFs (which is how owns-udfs name the types of the blocks they emit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeId(pub u16);

impl TypeId {
    /// A raw data block: owns nothing, guarded by its parent's acl-uf (`XN_DB`).
    pub const DB: TypeId = TypeId(0);
    /// A block of a type's template (`XN_TYPE`), guarded by its catalogue entry's capability.
    pub const TYPE: TypeId = TypeId(1);
    /// A block read into the registry before its parent is known ("unknown type").
    pub const UNKNOWN: TypeId = TypeId(0xffff);
    /// The first libFS-defined type id.
    pub const FIRST_USER: u16 = 16;

    /// The type id of root catalogue slot `slot`.
    pub fn from_slot(slot: usize) -> TypeId {
        TypeId(Self::FIRST_USER + slot as u16)
    }

    /// The catalogue slot of a libFS type, if this is one.
    pub fn slot(self) -> Option<usize> {
        if self.0 >= Self::FIRST_USER && self != Self::UNKNOWN {
            Some((self.0 - Self::FIRST_USER) as usize)
        } else {
            None
        }
    }
}

static CHECKS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// Turns XN's UDF checks of allocations and frees off (`false`) or on.
/// **A measurement aid only** (`exo bench --suite xn` compares the two):
/// without the checks XN no longer protects one libFS from another.
pub fn set_checks(on: bool) {
    CHECKS.store(on, core::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn checks_enabled() -> bool {
    CHECKS.load(core::sync::atomic::Ordering::Relaxed)
}
