//! The XN system call: `xn(args, cap)`. One call carries every XN operation
//! (thesis ch. 8) as an [`XnCall`], which the libOS encodes into an
//! [`XnArgs`] block and the kernel decodes from it; `cap` names the
//! capability the caller presents (its value is what acl-ufs and the
//! catalogue compare with owners). An XN refusal returns
//! [`crate::syscall::Error::Xn`] with XN's own error code in `rdx`
//! (`exo_xn::Error::code`).

/// Bytes of an XN disk block.
pub const BLOCK_SIZE: usize = 4096;

mod call;
pub use call::{op, op_name, BlockBytes, XnCall, XnMods, XnName, XnRoot, NO_REFCNT};

/// The start of the registry window ([`crate::layout::UXNREG`]); entries
/// follow at byte [`REGISTRY_ENTRIES`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct RegistryHeader {
    /// Entries shown (at most `capacity`).
    pub count: u64,
    pub capacity: u64,
    /// Entries in the registry (more than `count` if the window is full).
    pub total: u64,
    /// Bumped at every refresh.
    pub generation: u64,
}

pub const REGISTRY_ENTRIES: usize = 64;

/// `XnArgs::flags` bits.
pub const KIND_ROOT: u32 = 1;
pub const TEMPORARY: u32 = 2;
pub const INIT_BYTES: u32 = 4;

/// "No block given".
pub const NONE: u64 = u64::MAX;
/// Bounds the kernel enforces on one call.
pub const MAX_MODS: usize = 16;
pub const MAX_NAME: usize = 24;
pub const MAX_ENUM: usize = 512;
/// Most caller pages one READ_AND_INSERT takes.
pub const MAX_PAGES: usize = 64;
/// Most blocks one READ_AND_INSERT into the kernel's pages reads (each is
/// a disk read with interrupts off: the bound keeps one call short).
pub const MAX_READ_BLOCKS: u64 = 256;
/// Most blocks one ALLOC or INSTALL_MOUNT brings into the cache.
pub const MAX_EXTENT_BLOCKS: u64 = 4096;

/// An extent being (de)allocated or bound (`struct xn_update`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XnUpdate {
    pub db: u64,
    pub nblocks: u64,
    pub own_id: u32,
    pub ty: u16,
    pub _pad: u16,
}

/// One byte-range modification: `len` bytes at `ptr` go to `offset`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct XnMod {
    pub offset: u64,
    pub ptr: u64,
    pub len: u64,
}

/// A catalogue entry (LOOKUP's answer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XnCatEntry {
    pub slot: u64,
    pub db: u64,
    pub nblocks: u64,
    pub ty: u16,
    pub is_root: u8,
    pub tainted: u8,
    pub _pad: u32,
}

/// The argument block of one XN call.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct XnArgs {
    pub op: u32,
    pub flags: u32,
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub upd: XnUpdate,
    pub name_ptr: u64,
    pub name_len: u64,
    pub buf_ptr: u64,
    pub buf_len: u64,
    pub mv_ptr: u64,
    pub mv_len: u64,
    pub mv2_ptr: u64,
    pub mv2_len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::arg::{UserArray, UserBytes, UserRef};
    use crate::syscall::Error;

    #[test]
    fn every_operation_round_trips() {
        let name = UserBytes::check(0x1000, 5).unwrap();
        let bytes = UserBytes::check(0x2000, 100).unwrap();
        let mods = UserArray::check(0x3000, 2).unwrap();
        let upd = XnUpdate {
            db: 9,
            nblocks: 1,
            own_id: 3,
            ty: 2,
            _pad: 0,
        };
        let calls = [
            XnCall::Format { force: true },
            XnCall::CapValue,
            XnCall::ReserveType { name },
            XnCall::InstallMount {
                name,
                db: Some(4),
                nblocks: 2,
                root: Some(XnRoot {
                    ty: 3,
                    temporary: true,
                }),
                init: Some(bytes),
            },
            XnCall::InstallMount {
                name,
                db: None,
                nblocks: 1,
                root: None,
                init: None,
            },
            XnCall::TypeImport { name },
            XnCall::Lookup {
                name,
                out: UserRef::check(0x4000).unwrap(),
            },
            XnCall::Mount { name },
            XnCall::ReadAndInsert {
                db: 7,
                n: 3,
                pages: None,
            },
            XnCall::ReadAndInsert {
                db: 7,
                n: 2,
                pages: Some(UserArray::check(0x5000, 2).unwrap()),
            },
            XnCall::InsertAttr { parent: 1, upd },
            XnCall::Alloc {
                parent: 1,
                upd,
                mods,
                init: Some(bytes),
            },
            XnCall::Free {
                parent: 1,
                upd,
                mods,
                child_mods: mods,
            },
            XnCall::AddEdge {
                src: 1,
                dst: 2,
                own_id: 5,
                src_mods: mods,
                dst_mods: mods,
            },
            XnCall::ReadB {
                db: 3,
                offset: 8,
                out: bytes,
            },
            XnCall::WriteB {
                db: 3,
                offset: 8,
                bytes,
            },
            XnCall::Writeback { db: 3, n: 2 },
            XnCall::FindFree { hint: 3, n: 2 },
            XnCall::UdfEnum {
                db: 3,
                first: 0,
                end: 4,
                out: UserArray::check(0x6000, 7).unwrap(),
            },
            XnCall::ReadAttr { db: 3, out: bytes },
            XnCall::GetRefcnt { db: 3 },
            XnCall::Shutdown,
            XnCall::Info,
            XnCall::ListWriteable {
                out: UserArray::check(0x7000, 9).unwrap(),
            },
            XnCall::UninstallMount { name },
            XnCall::TypeMount { name },
            XnCall::DbAlloc { db: 3, n: 2 },
            XnCall::Map {
                db: 3,
                va: 0x5000_0000,
            },
            XnCall::Lock { db: 3 },
            XnCall::Unlock { db: 3 },
            XnCall::DeleteAttr { db: 3, n: 2 },
        ];
        for c in calls {
            assert_eq!(XnCall::decode(&c.encode()), Ok(c), "{}", c.name());
            assert_ne!(c.name(), "unknown");
        }
    }

    #[test]
    fn decoding_checks_the_block() {
        let bad_op = XnArgs {
            op: 99,
            ..XnArgs::default()
        };
        assert_eq!(XnCall::decode(&bad_op), Err(Error::NoSys));
        let long_name = XnArgs {
            op: op::MOUNT,
            name_ptr: 0x1000,
            name_len: MAX_NAME as u64 + 1,
            ..XnArgs::default()
        };
        assert_eq!(XnCall::decode(&long_name), Err(Error::Invalid));
        let many_mods = XnArgs {
            op: op::ALLOC,
            mv_ptr: 0x1000,
            mv_len: MAX_MODS as u64 + 1,
            ..XnArgs::default()
        };
        assert_eq!(XnCall::decode(&many_mods), Err(Error::Invalid));
        let wild = XnArgs {
            op: op::WRITEB,
            buf_ptr: u64::MAX - 8,
            buf_len: 64,
            ..XnArgs::default()
        };
        assert_eq!(XnCall::decode(&wild), Err(Error::Fault));
        let big_owner = XnArgs {
            op: op::ADD_EDGE,
            c: 1 << 32,
            ..XnArgs::default()
        };
        assert_eq!(XnCall::decode(&big_owner), Err(Error::Invalid));
    }
}
