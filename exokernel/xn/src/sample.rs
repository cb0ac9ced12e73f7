//! A built-in sample template set: a tiny Unix-like file system (directory, inode,
//! indirect block) written in UDF bytecode, plus the few libFS steps tests and
//! `exo xn mkfs|ls|cat` need. The real libFS lives in libos; this one exists so XN can
//! be exercised (and attacked) without it.
//!
//! Layouts (little-endian; every block starts with the owner capability and mode, which
//! the shared acl-uf reads):
//! ```text
//! dir:      0 owner u64 | 8 refcnt u32 | 12 mode u32 | 64 + 64i: entry i (i < 63):
//!           name[40] | 40 kind u8 (1 file, 2 dir) | 48 db u64
//! inode:    0 owner | 8 refcnt | 12 mode | 16 size u64 | 64 + 8j: direct j (j < 32) | 320 indirect
//! indirect: 0 owner | 12 mode | 64 + 8j: data j (j < 504)
//! ```
//! mode bit 0: world-readable.

use crate::api::{Direct, XnCalls};
use crate::disk::Disk;
use crate::error::Error;
use crate::registry::PageStore;
use crate::template::Template;
use crate::udf::asm::Asm;
use crate::udf::Opcode;
use crate::xn::{Cred, Init, Mod, MountKind, Update, Xn};
use crate::{Db, TypeId, BLOCK_SIZE};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

pub const DIR_NAME: &str = "sample.dir";
pub const INODE_NAME: &str = "sample.inode";
pub const INDIRECT_NAME: &str = "sample.indirect";

pub const DIR_ENTRIES: u32 = 63;
pub const NAME_MAX: usize = 40;
pub const DIRECT: u32 = 32;
pub const INDIRECT_PTRS: u32 = 504;
pub const KIND_FILE: u8 = 1;
pub const KIND_DIR: u8 = 2;
pub const MODE_PUBLIC: u32 = 1;
/// Largest file the sample layout holds.
pub const MAX_FILE: usize = (DIRECT + INDIRECT_PTRS) as usize * BLOCK_SIZE;

/// r15 is never written by these programs: a zero base register.
const Z: u8 = 15;

/// The sample type ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Types {
    pub dir: TypeId,
    pub inode: TypeId,
    pub indirect: TypeId,
}

/// acl-uf shared by all three: the owner may do anything; anyone may read a public
/// block, and anyone may drop a link (the parent's acl guards who may remove the edge).
fn acl_code() -> Vec<crate::udf::Insn> {
    let mut a = Asm::new();
    let (allow, deny, check_mode) = (a.label(), a.label(), a.label());
    a.ld(8, 5, Z, 0, 0).jeq(5, 1, allow);
    a.li(6, crate::udf::AclOp::Read as u64)
        .jeq(0, 6, check_mode);
    a.li(6, crate::udf::AclOp::Unlink as u64).jeq(0, 6, allow);
    a.jmp(deny);
    a.bind(check_mode)
        .ld(4, 7, Z, 12, 0)
        .li(8, MODE_PUBLIC as u64)
        .alu(Opcode::And, 7, 7, 8)
        .jne(7, Z, allow);
    a.bind(deny).li(9, 0).ret(9);
    a.bind(allow).li(9, 1).ret(9);
    a.finish()
}

fn refcnt_code() -> Vec<crate::udf::Insn> {
    let mut a = Asm::new();
    a.ld(4, 1, Z, 8, 0).ret(1);
    a.finish()
}

/// The three templates, given their (reserved) type ids.
pub fn templates(t: Types) -> [Template; 3] {
    // dir owns, partition i = entry i: kind 1 → inode, kind 2 → dir.
    let mut a = Asm::new();
    let (inode, dir, emit) = (a.label(), a.label(), a.label());
    a.li(2, 6).alu(Opcode::Shl, 3, 0, 2).ld(1, 4, 3, 64 + 40, 0);
    a.li(5, KIND_FILE as u64).jeq(4, 5, inode);
    a.li(5, KIND_DIR as u64).jeq(4, 5, dir);
    a.ret(Z);
    a.bind(inode).li(6, t.inode.0 as u64).jmp(emit);
    a.bind(dir).li(6, t.dir.0 as u64);
    a.bind(emit).ld(8, 7, 3, 64 + 48, 0).li(8, 1).emit(7, 8, 6);
    let dir_owns = a.finish();
    // dir size: 64 bytes per used entry (a bounded loop).
    let mut a = Asm::new();
    let cont = a.label();
    a.li(1, DIR_ENTRIES as u64).li(9, 6);
    a.loop_(3, 1, DIR_ENTRIES)
        .alu(Opcode::Shl, 4, 3, 9)
        .ld(1, 5, 4, 64 + 40, 0)
        .jeq(5, Z, cont)
        .addi(2, 2, 64);
    a.bind(cont).end_loop();
    a.ret(2);
    let dir_size = a.finish();
    // inode owns: partitions 0..32 direct data blocks, 32 the indirect block.
    let mut a = Asm::new();
    let (ind, end) = (a.label(), a.label());
    a.li(2, DIRECT as u64).jeq(0, 2, ind);
    a.li(3, 3)
        .alu(Opcode::Shl, 4, 0, 3)
        .ld(8, 5, 4, 64, 0)
        .jeq(5, Z, end);
    a.li(6, 1).li(7, TypeId::DB.0 as u64).emit(5, 6, 7).jmp(end);
    a.bind(ind)
        .ld(8, 5, Z, 320, 0)
        .jeq(5, Z, end)
        .li(6, 1)
        .li(7, t.indirect.0 as u64)
        .emit(5, 6, 7);
    a.bind(end);
    let inode_owns = a.finish();
    let mut a = Asm::new();
    a.ld(8, 1, Z, 16, 0).ret(1);
    let inode_size = a.finish();
    // indirect owns: partition j = data pointer j.
    let mut a = Asm::new();
    let end = a.label();
    a.li(3, 3)
        .alu(Opcode::Shl, 4, 0, 3)
        .ld(8, 5, 4, 64, 0)
        .jeq(5, Z, end);
    a.li(6, 1).li(7, TypeId::DB.0 as u64).emit(5, 6, 7);
    a.bind(end);
    let ind_owns = a.finish();
    [
        Template {
            name: DIR_NAME.into(),
            nparts: DIR_ENTRIES,
            owns: dir_owns,
            refcnt: refcnt_code(),
            acl: acl_code(),
            size: dir_size,
        },
        Template {
            name: INODE_NAME.into(),
            nparts: DIRECT + 1,
            owns: inode_owns,
            refcnt: refcnt_code(),
            acl: acl_code(),
            size: inode_size,
        },
        Template {
            name: INDIRECT_NAME.into(),
            nparts: INDIRECT_PTRS,
            owns: ind_owns,
            refcnt: Vec::new(),
            acl: acl_code(),
            size: Vec::new(),
        },
    ]
}

/// A fresh header: owner, reference count, mode.
pub fn header(owner: u64, refcnt: u32, mode: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&owner.to_le_bytes());
    h[8..12].copy_from_slice(&refcnt.to_le_bytes());
    h[12..16].copy_from_slice(&mode.to_le_bytes());
    h
}

/// Install the sample types the way any libFS installs types (§8 B.1): reserve the
/// names (the types refer to each other), write each template into its extent, write
/// it back, import it.
pub fn install_types<D: Disk, P: PageStore>(xn: &mut Xn<D, P>, cred: Cred) -> Result<Types, Error> {
    install_types_via(&mut Direct { xn, cred })
}

/// [`install_types`] through the libFS call set (in a guest: system calls).
pub fn install_types_via<X: XnCalls>(x: &mut X) -> Result<Types, Error> {
    let t = Types {
        dir: x.reserve_type(DIR_NAME)?,
        inode: x.reserve_type(INODE_NAME)?,
        indirect: x.reserve_type(INDIRECT_NAME)?,
    };
    for tpl in templates(t) {
        let bytes = tpl.encode();
        let n = (bytes.len() / BLOCK_SIZE) as u64;
        let db = x.install_mount(&tpl.name, None, n, MountKind::Type, Init::Zero)?;
        for (i, chunk) in bytes.chunks(BLOCK_SIZE).enumerate() {
            x.writeb(db + i as u64, 0, chunk)?;
        }
        x.writeback(db, n)?;
        x.type_import(&tpl.name)?;
    }
    Ok(t)
}

/// The sample type ids through the libFS call set, if installed.
pub fn find_types_via<X: XnCalls>(x: &mut X) -> Option<Types> {
    Some(Types {
        dir: x.lookup(DIR_NAME).ok()?.ty,
        inode: x.lookup(INODE_NAME).ok()?.ty,
        indirect: x.lookup(INDIRECT_NAME).ok()?.ty,
    })
}

/// The sample type ids of an XN disk, if the sample types are installed.
pub fn find_types<D: Disk, P: PageStore>(xn: &Xn<D, P>) -> Option<Types> {
    let id = |n| xn.catalogue().find(n).map(|(s, _)| TypeId::from_slot(s));
    Some(Types {
        dir: id(DIR_NAME)?,
        inode: id(INODE_NAME)?,
        indirect: id(INDIRECT_NAME)?,
    })
}

/// Create a root directory owned by `cred.cap`.
pub fn make_root<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    t: Types,
    name: &str,
    temporary: bool,
) -> Result<Db, Error> {
    make_root_via(&mut Direct { xn, cred }, t, name, temporary)
}

/// [`make_root`] through the libFS call set.
pub fn make_root_via<X: XnCalls>(
    x: &mut X,
    t: Types,
    name: &str,
    temporary: bool,
) -> Result<Db, Error> {
    let h = header(x.cap(), 0, MODE_PUBLIC);
    x.install_mount(
        name,
        None,
        1,
        MountKind::Root {
            ty: t.dir,
            temporary,
        },
        Init::Bytes(&h),
    )
}

/// Bring a root into the registry and bind it.
pub fn mount_root<D: Disk, P: PageStore>(xn: &mut Xn<D, P>, name: &str) -> Result<Db, Error> {
    let db = xn.catalogue().find(name).ok_or(Error::NoSuchName)?.1.db;
    xn.read_and_insert(db, 1, None)?;
    xn.mount(name)?;
    Ok(db)
}

/// Cache and bind a child the parent owns.
pub fn load<D: Disk, P: PageStore>(xn: &mut Xn<D, P>, parent: Db, u: Update) -> Result<(), Error> {
    xn.insert_attr(parent, u)?;
    xn.read_and_insert(u.db, u.nblocks, None)?;
    Ok(())
}

/// A directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub slot: u32,
    pub name: String,
    pub kind: u8,
    pub db: Db,
}

/// List a cached directory (privileged peek: for tools and tests).
pub fn list_dir<D: Disk, P: PageStore>(xn: &Xn<D, P>, dir: Db) -> Result<Vec<DirEntry>, Error> {
    Ok(parse_dir(xn.peek(dir)?))
}

/// List a cached directory the caller may read.
pub fn list_dir_via<X: XnCalls>(x: &mut X, dir: Db) -> Result<Vec<DirEntry>, Error> {
    let mut b = [0u8; BLOCK_SIZE];
    x.readb(dir, 0, &mut b)?;
    Ok(parse_dir(&b))
}

fn parse_dir(b: &crate::Block) -> Vec<DirEntry> {
    let mut out = Vec::new();
    for i in 0..DIR_ENTRIES {
        let e = &b[64 + 64 * i as usize..128 + 64 * i as usize];
        if e[40] != 0 {
            let n = e[..NAME_MAX]
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(NAME_MAX);
            let name = String::from_utf8_lossy(&e[..n]).into();
            out.push(DirEntry {
                slot: i,
                name,
                kind: e[40],
                db: crate::layout::get_u64(e, 48),
            });
        }
    }
    out
}

fn entry_mods<'a>(
    slot: u32,
    name: &'a [u8; NAME_MAX],
    kind: &'a [u8; 1],
    db: &'a [u8; 8],
) -> [Mod<'a>; 3] {
    let base = 64 + 64 * slot as usize;
    [
        Mod {
            offset: base,
            bytes: name,
        },
        Mod {
            offset: base + 40,
            bytes: kind,
        },
        Mod {
            offset: base + 48,
            bytes: db,
        },
    ]
}

fn new_entry<X: XnCalls>(
    x: &mut X,
    t: Types,
    dir: Db,
    name: &str,
    kind: u8,
    init: &[u8],
) -> Result<Db, Error> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(Error::BadName);
    }
    let entries = list_dir_via(x, dir)?;
    if entries.iter().any(|e| e.name == name) {
        return Err(Error::Exists);
    }
    let slot = (0..DIR_ENTRIES)
        .find(|i| entries.iter().all(|e| e.slot != *i))
        .ok_or(Error::NoSpace)?;
    let db = x.find_free(dir, 1).ok_or(Error::NoSpace)?;
    let mut nm = [0u8; NAME_MAX];
    nm[..name.len()].copy_from_slice(name.as_bytes());
    let (k, d) = ([kind], db.to_le_bytes());
    let ty = if kind == KIND_DIR { t.dir } else { t.inode };
    x.alloc(
        dir,
        Update {
            own_id: slot,
            db,
            nblocks: 1,
            ty,
        },
        &entry_mods(slot, &nm, &k, &d),
        Init::Bytes(init),
    )?;
    Ok(db)
}

/// Make a subdirectory.
pub fn mkdir<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    t: Types,
    dir: Db,
    name: &str,
) -> Result<Db, Error> {
    mkdir_via(&mut Direct { xn, cred }, t, dir, name)
}

/// [`mkdir`] through the libFS call set.
pub fn mkdir_via<X: XnCalls>(x: &mut X, t: Types, dir: Db, name: &str) -> Result<Db, Error> {
    new_entry(x, t, dir, name, KIND_DIR, &header(x.cap(), 1, MODE_PUBLIC))
}

/// Create a file holding `data`: the inode, then each data block (and the indirect
/// block past 32 blocks) through checked allocations, then the bytes with writeb.
pub fn create<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    t: Types,
    dir: Db,
    name: &str,
    data: &[u8],
    mode: u32,
) -> Result<Db, Error> {
    create_via(&mut Direct { xn, cred }, t, dir, name, data, mode)
}

/// [`create`] through the libFS call set.
pub fn create_via<X: XnCalls>(
    x: &mut X,
    t: Types,
    dir: Db,
    name: &str,
    data: &[u8],
    mode: u32,
) -> Result<Db, Error> {
    if data.len() > MAX_FILE {
        return Err(Error::NoSpace);
    }
    let mut init = [0u8; 24];
    init[..16].copy_from_slice(&header(x.cap(), 1, mode));
    init[16..24].copy_from_slice(&(data.len() as u64).to_le_bytes());
    let ino = new_entry(x, t, dir, name, KIND_FILE, &init)?;
    let mut ind = None;
    for (j, chunk) in data.chunks(BLOCK_SIZE).enumerate() {
        let (parent, part, off) = if (j as u32) < DIRECT {
            (ino, j as u32, 64 + 8 * j)
        } else {
            let ib = match ind {
                Some(b) => b,
                None => {
                    let ib = x.find_free(ino, 1).ok_or(Error::NoSpace)?;
                    let h = header(x.cap(), 0, mode);
                    let u = Update {
                        own_id: DIRECT,
                        db: ib,
                        nblocks: 1,
                        ty: t.indirect,
                    };
                    x.alloc(
                        ino,
                        u,
                        &[Mod {
                            offset: 320,
                            bytes: &ib.to_le_bytes(),
                        }],
                        Init::Bytes(&h),
                    )?;
                    ind = Some(ib);
                    ib
                }
            };
            let k = j - DIRECT as usize;
            (ib, k as u32, 64 + 8 * k)
        };
        let d = x.find_free(parent, 1).ok_or(Error::NoSpace)?;
        let u = Update {
            own_id: part,
            db: d,
            nblocks: 1,
            ty: TypeId::DB,
        };
        x.alloc(
            parent,
            u,
            &[Mod {
                offset: off,
                bytes: &d.to_le_bytes(),
            }],
            Init::Zero,
        )?;
        x.writeb(d, 0, chunk)?;
    }
    Ok(ino)
}

/// Cache and bind a child the parent owns, through the libFS call set.
pub fn load_via<X: XnCalls>(x: &mut X, parent: Db, u: Update) -> Result<(), Error> {
    if x.read_attr(u.db).is_some_and(|a| a.parent == parent) {
        return Ok(()); // already cached and bound
    }
    x.insert_attr(parent, u)?;
    x.read_and_insert(u.db, u.nblocks)?;
    Ok(())
}

/// Read a file whose inode is cached, through the libFS call set.
pub fn read_file_via<X: XnCalls>(x: &mut X, t: Types, ino: Db) -> Result<Vec<u8>, Error> {
    let mut sz = [0u8; 8];
    x.readb(ino, 16, &mut sz)?;
    let size = u64::from_le_bytes(sz) as usize;
    if size > MAX_FILE {
        return Err(Error::BadRange);
    }
    let mut blocks = Vec::new();
    for u in x.udf_enum(ino, 0, DIRECT + 1)? {
        load_via(x, ino, u)?;
        if u.ty == t.indirect {
            for v in x.udf_enum(u.db, 0, INDIRECT_PTRS)? {
                load_via(x, u.db, v)?;
                blocks.push((DIRECT + v.own_id, v.db));
            }
        } else {
            blocks.push((u.own_id, u.db));
        }
    }
    let mut out = vec![0u8; size];
    for (j, b) in blocks {
        let s = j as usize * BLOCK_SIZE;
        if s < size {
            let e = (s + BLOCK_SIZE).min(size);
            x.readb(b, 0, &mut out[s..e])?;
        }
    }
    Ok(out)
}

/// Read a file whose inode is cached, loading its blocks (privileged peek).
pub fn read_file<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    t: Types,
    ino: Db,
) -> Result<Vec<u8>, Error> {
    let size = crate::layout::get_u64(xn.peek(ino)?, 16) as usize;
    if size > MAX_FILE {
        return Err(Error::BadRange);
    }
    let mut blocks = Vec::new();
    for u in xn.udf_enum(ino, 0, DIRECT + 1)? {
        load(xn, ino, u)?;
        if u.ty == t.indirect {
            for v in xn.udf_enum(u.db, 0, INDIRECT_PTRS)? {
                load(xn, u.db, v)?;
                blocks.push((DIRECT + v.own_id, v.db));
            }
        } else {
            blocks.push((u.own_id, u.db));
        }
    }
    let mut out = vec![0u8; size];
    for (j, b) in blocks {
        let s = j as usize * BLOCK_SIZE;
        if s < size {
            let e = (s + BLOCK_SIZE).min(size);
            out[s..e].copy_from_slice(&xn.peek(b)?[..e - s]);
        }
    }
    Ok(out)
}

/// Remove a file: free its data blocks and indirect block bottom-up, then the entry
/// (dropping the inode's reference count to zero frees it).
pub fn remove<D: Disk, P: PageStore>(
    xn: &mut Xn<D, P>,
    cred: Cred,
    t: Types,
    dir: Db,
    name: &str,
) -> Result<(), Error> {
    let e = list_dir(xn, dir)?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or(Error::NoSuchName)?;
    let zero = [0u8; 8];
    if e.kind == KIND_FILE {
        if xn.read_attr(e.db).is_none_or(|a| a.page().is_none()) {
            load(
                xn,
                dir,
                Update {
                    own_id: e.slot,
                    db: e.db,
                    nblocks: 1,
                    ty: t.inode,
                },
            )?;
        }
        for u in xn.udf_enum(e.db, 0, DIRECT + 1)? {
            if u.ty == t.indirect {
                if xn.read_attr(u.db).is_none_or(|a| a.page().is_none()) {
                    load(xn, e.db, u)?;
                }
                for v in xn.udf_enum(u.db, 0, INDIRECT_PTRS)? {
                    xn.free(
                        cred,
                        u.db,
                        v,
                        &[Mod {
                            offset: 64 + 8 * v.own_id as usize,
                            bytes: &zero,
                        }],
                        &[],
                    )?;
                }
                xn.free(
                    cred,
                    e.db,
                    u,
                    &[Mod {
                        offset: 320,
                        bytes: &zero,
                    }],
                    &[],
                )?;
            } else {
                xn.free(
                    cred,
                    e.db,
                    u,
                    &[Mod {
                        offset: 64 + 8 * u.own_id as usize,
                        bytes: &zero,
                    }],
                    &[],
                )?;
            }
        }
    }
    let ty = if e.kind == KIND_DIR { t.dir } else { t.inode };
    let base = 64 + 64 * e.slot as usize;
    let rc = [0u8; 4];
    let mv = [
        Mod {
            offset: base + 40,
            bytes: &[0],
        },
        Mod {
            offset: base + 48,
            bytes: &zero,
        },
    ];
    xn.free(
        cred,
        dir,
        Update {
            own_id: e.slot,
            db: e.db,
            nblocks: 1,
            ty,
        },
        &mv,
        &[Mod {
            offset: 8,
            bytes: &rc,
        }],
    )
}

/// Write back every dirty block, children before parents, until nothing is left.
pub fn sync<D: Disk, P: PageStore>(xn: &mut Xn<D, P>, cred: Cred) -> Result<(), Error> {
    sync_via(&mut Direct { xn, cred })?;
    if xn
        .registry()
        .iter()
        .any(|a| a.has(crate::registry::state::DIRTY) && !a.has(crate::registry::state::TEMPORARY))
    {
        return Err(Error::Tainted);
    }
    Ok(())
}

/// [`sync`] through the libFS call set (without the final registry check).
pub fn sync_via<X: XnCalls>(x: &mut X) -> Result<(), Error> {
    loop {
        let w = x.list_writeable();
        if w.is_empty() {
            return Ok(());
        }
        for b in w {
            x.writeback(b, 1)?;
        }
    }
}
