//! Engine tests: the whole XN on an in-memory disk, including adversarial callers and
//! crash simulation with reconstruction.

use crate::recovery::{reconstruct, Violation};
use crate::registry::state;
use crate::sample::{self, Types};
use crate::*;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

const ALICE: Cred = Cred {
    env: 1,
    cap: 0xa11ce,
};
const BOB: Cred = Cred { env: 2, cap: 0xb0b };

type TestXn<'a> = Xn<&'a mut MemDisk, VecPageStore>;

fn setup(disk: &mut MemDisk) -> (TestXn<'_>, Types, Db) {
    let mut xn = Xn::format(disk, VecPageStore::new()).unwrap();
    let t = sample::install_types(&mut xn, ALICE).unwrap();
    let root = sample::make_root(&mut xn, ALICE, t, "alice", false).unwrap();
    (xn, t, root)
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn zero8() -> [u8; 8] {
    [0; 8]
}

#[test]
fn create_sync_reopen_read() {
    let mut disk = MemDisk::new(1024);
    let big = data(40 * BLOCK_SIZE + 123, 7); // needs the indirect block
    {
        let (mut xn, t, root) = setup(&mut disk);
        sample::create(&mut xn, ALICE, t, root, "small", b"hello xn", 0).unwrap();
        sample::create(&mut xn, ALICE, t, root, "big", &big, 0).unwrap();
        let sub = sample::mkdir(&mut xn, ALICE, t, root, "sub").unwrap();
        sample::create(&mut xn, ALICE, t, sub, "inner", b"nested", 0).unwrap();
        assert_eq!(xn.shutdown(), Err(Error::Dirty));
        sample::sync(&mut xn, ALICE).unwrap();
        xn.shutdown().unwrap();
    }
    let mut xn: TestXn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
    let t = sample::find_types(&xn).unwrap();
    let root = sample::mount_root(&mut xn, "alice").unwrap();
    let ents = sample::list_dir(&xn, root).unwrap();
    assert_eq!(
        ents.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["small", "big", "sub"]
    );
    for e in &ents {
        let ty = if e.kind == sample::KIND_DIR {
            t.dir
        } else {
            t.inode
        };
        sample::load(
            &mut xn,
            root,
            Update {
                own_id: e.slot,
                db: e.db,
                nblocks: 1,
                ty,
            },
        )
        .unwrap();
    }
    assert_eq!(
        sample::read_file(&mut xn, t, ents[0].db).unwrap(),
        b"hello xn"
    );
    assert_eq!(sample::read_file(&mut xn, t, ents[1].db).unwrap(), big);
    assert_eq!(xn.size_of(ents[1].db).unwrap(), big.len() as u64);
    assert_eq!(
        xn.size_of(root).unwrap(),
        3 * 64,
        "dir size-uf counts entries with a bounded loop"
    );
    assert_eq!(xn.get_refcnt(ents[0].db).unwrap(), Some(1));
    assert_eq!(xn.get_nowns(ents[1].db).unwrap(), 33);
    // Access control is acl-uf's: Bob cannot read Alice's private file, can read the public dir.
    let d = xn.udf_enum(ents[0].db, 0, 1).unwrap()[0];
    sample::load(&mut xn, ents[0].db, d).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(xn.readb(BOB, d.db, 0, &mut buf), Err(Error::AccessDenied));
    xn.readb(ALICE, d.db, 0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello xn");
    xn.readb(BOB, root, 0, &mut buf).unwrap();
    // Metadata is never mapped writable; data only for those allowed to write it.
    assert_eq!(xn.check_map(ALICE, root, true), Err(Error::AccessDenied));
    assert!(xn.check_map(ALICE, d.db, true).is_ok());
    assert_eq!(xn.check_map(BOB, d.db, false), Err(Error::AccessDenied));
    // A clean reconstruction agrees with the free map.
    let (disk, _) = xn.into_parts();
    let rep = reconstruct(disk, false).unwrap();
    assert!(rep.violations.is_empty(), "{:?}", rep.violations);
}

#[test]
fn claim_another_environments_block_refused() {
    let mut disk = MemDisk::new(256);
    let (mut xn, t, root) = setup(&mut disk);
    let a_ino = sample::create(&mut xn, ALICE, t, root, "a", &data(100, 1), 0).unwrap();
    let a_data = xn.udf_enum(a_ino, 0, 1).unwrap()[0].db;
    let broot = sample::make_root(&mut xn, BOB, t, "bob", false).unwrap();
    let b_ino = sample::create(&mut xn, BOB, t, broot, "b", b"", 0).unwrap();
    // Bob points his inode at Alice's data block: it is not free.
    let u = Update {
        own_id: 0,
        db: a_data,
        nblocks: 1,
        ty: TypeId::DB,
    };
    assert_eq!(
        xn.alloc(
            BOB,
            b_ino,
            u,
            &[Mod {
                offset: 64,
                bytes: &a_data.to_le_bytes()
            }],
            Init::Zero
        ),
        Err(Error::NotFree)
    );
    // Bob allocates into Alice's inode or directory: her acl-uf refuses.
    let free = xn.find_free(0, 1).unwrap();
    let u = Update {
        own_id: 1,
        db: free,
        nblocks: 1,
        ty: TypeId::DB,
    };
    assert_eq!(
        xn.alloc(
            BOB,
            a_ino,
            u,
            &[Mod {
                offset: 72,
                bytes: &free.to_le_bytes()
            }],
            Init::Zero
        ),
        Err(Error::AccessDenied)
    );
    // Bob binds Alice's block under his inode: his owns does not justify it.
    assert_eq!(
        xn.insert_attr(
            b_ino,
            Update {
                own_id: 0,
                db: a_data,
                nblocks: 1,
                ty: TypeId::DB
            }
        ),
        Err(Error::BogusUpdate)
    );
    // Bob links Alice's inode into his directory: her acl-uf refuses the link.
    let mut nm = [0u8; 40];
    nm[..3].copy_from_slice(b"pwn");
    let mv = [
        Mod {
            offset: 64 + 64,
            bytes: &nm,
        },
        Mod {
            offset: 64 + 64 + 40,
            bytes: &[1],
        },
        Mod {
            offset: 64 + 64 + 48,
            bytes: &a_ino.to_le_bytes(),
        },
    ];
    assert_eq!(
        xn.add_edge(
            BOB,
            broot,
            1,
            &mv,
            a_ino,
            &[Mod {
                offset: 8,
                bytes: &2u32.to_le_bytes()
            }]
        ),
        Err(Error::AccessDenied)
    );
    // Data blocks have no reference count: nobody can share them.
    assert_eq!(
        xn.add_edge(
            BOB,
            b_ino,
            0,
            &[Mod {
                offset: 64,
                bytes: &a_data.to_le_bytes()
            }],
            a_data,
            &[]
        ),
        Err(Error::NotMetadata)
    );
    // Alice may link her own inode twice, and the count must rise by exactly one.
    let mv = [
        Mod {
            offset: 128 + 40,
            bytes: &[1],
        },
        Mod {
            offset: 128 + 48,
            bytes: &a_ino.to_le_bytes(),
        },
    ];
    assert_eq!(
        xn.add_edge(
            ALICE,
            root,
            1,
            &mv,
            a_ino,
            &[Mod {
                offset: 8,
                bytes: &3u32.to_le_bytes()
            }]
        ),
        Err(Error::BogusUpdate)
    );
    xn.add_edge(
        ALICE,
        root,
        1,
        &mv,
        a_ino,
        &[Mod {
            offset: 8,
            bytes: &2u32.to_le_bytes(),
        }],
    )
    .unwrap();
    assert_eq!(xn.get_refcnt(a_ino).unwrap(), Some(2));
}

#[test]
fn forged_metadata_refused() {
    let mut disk = MemDisk::new(256);
    let (mut xn, t, root) = setup(&mut disk);
    let ino = sample::create(&mut xn, ALICE, t, root, "f", b"x", 0).unwrap();
    let (f1, f2) = (xn.find_free(0, 1).unwrap(), xn.find_free(0, 2).unwrap() + 1);
    // Claims f1 but writes a pointer to f2.
    let u = Update {
        own_id: 1,
        db: f1,
        nblocks: 1,
        ty: TypeId::DB,
    };
    assert_eq!(
        xn.alloc(
            ALICE,
            ino,
            u,
            &[Mod {
                offset: 72,
                bytes: &f2.to_le_bytes()
            }],
            Init::Zero
        ),
        Err(Error::BogusUpdate)
    );
    // Writes two pointers while claiming one.
    let two = [
        Mod {
            offset: 72,
            bytes: &f1.to_le_bytes(),
        },
        Mod {
            offset: 80,
            bytes: &f2.to_le_bytes(),
        },
    ];
    assert_eq!(
        xn.alloc(ALICE, ino, u, &two, Init::Zero),
        Err(Error::PartitionViolation)
    );
    // Names partition 2 but modifies partition 1's pointer.
    let u2 = Update { own_id: 2, ..u };
    assert_eq!(
        xn.alloc(
            ALICE,
            ino,
            u2,
            &[Mod {
                offset: 72,
                bytes: &f1.to_le_bytes()
            }],
            Init::Zero
        ),
        Err(Error::PartitionViolation)
    );
    assert_eq!(
        xn.alloc(ALICE, ino, Update { own_id: 99, ..u }, &[], Init::Zero),
        Err(Error::BadPartition)
    );
    // Claims the right type wrongly: the pointer is a data slot, not an inode.
    let u3 = Update { ty: t.inode, ..u };
    let ih = sample::header(ALICE.cap, 1, 0);
    assert_eq!(
        xn.alloc(
            ALICE,
            ino,
            u3,
            &[Mod {
                offset: 72,
                bytes: &f1.to_le_bytes()
            }],
            Init::Bytes(&ih)
        ),
        Err(Error::BogusUpdate)
    );
    // writeb may not touch bytes owns reads (pointers) nor refcnt's (the link count).
    assert_eq!(
        xn.writeb(ALICE, ino, 72, &f1.to_le_bytes()),
        Err(Error::ProtectedBytes)
    );
    assert_eq!(
        xn.writeb(ALICE, ino, 8, &5u32.to_le_bytes()),
        Err(Error::ProtectedBytes)
    );
    assert_eq!(
        xn.writeb(ALICE, root, 64 + 40, &[1]),
        Err(Error::ProtectedBytes)
    );
    xn.writeb(ALICE, ino, 16, &1u64.to_le_bytes()).unwrap(); // size: not protected
    assert_eq!(
        xn.writeb(BOB, ino, 16, &2u64.to_le_bytes()),
        Err(Error::AccessDenied)
    );
    // alloc's modification may not change the parent's own reference count.
    let rcm = [
        Mod {
            offset: 72,
            bytes: &f1.to_le_bytes(),
        },
        Mod {
            offset: 8,
            bytes: &9u32.to_le_bytes(),
        },
    ];
    assert_eq!(
        xn.alloc(ALICE, ino, u, &rcm, Init::Zero),
        Err(Error::BogusUpdate)
    );
    // A new metadata block must start owning nothing, counting exactly its one edge.
    let mut bad = [0u8; 80];
    bad[..16].copy_from_slice(&sample::header(ALICE.cap, 1, 0));
    bad[64..72].copy_from_slice(&3u64.to_le_bytes());
    let slot = 3;
    let (mut nm, k, d) = ([0u8; 40], [1u8], f1.to_le_bytes());
    nm[0] = b'z';
    let mv = [
        Mod {
            offset: 64 + 64 * slot,
            bytes: &nm,
        },
        Mod {
            offset: 64 + 64 * slot + 40,
            bytes: &k,
        },
        Mod {
            offset: 64 + 64 * slot + 48,
            bytes: &d,
        },
    ];
    let u = Update {
        own_id: slot as u32,
        db: f1,
        nblocks: 1,
        ty: t.inode,
    };
    assert_eq!(
        xn.alloc(ALICE, root, u, &mv, Init::Bytes(&bad)),
        Err(Error::BogusUpdate)
    );
    assert_eq!(
        xn.alloc(ALICE, root, u, &mv, Init::Zero),
        Err(Error::BogusUpdate),
        "refcnt 0 for a pointed-to inode"
    );
    xn.alloc(
        ALICE,
        root,
        u,
        &mv,
        Init::Bytes(&sample::header(ALICE.cap, 1, 0)),
    )
    .unwrap();
    // Unknown or raw types cannot be allocated as metadata.
    let u = Update {
        own_id: 4,
        db: f2,
        nblocks: 1,
        ty: TypeId(999),
    };
    assert_eq!(
        xn.alloc(ALICE, root, u, &[], Init::Zero),
        Err(Error::BadType)
    );
}

#[test]
fn tainted_blocks_never_reach_disk() {
    let mut disk = MemDisk::new(256);
    let (mut xn, t, root) = setup(&mut disk);
    let ino = sample::create(&mut xn, ALICE, t, root, "f", b"data", 0).unwrap();
    assert!(xn.is_tainted(root) && xn.read_attr(root).unwrap().has(state::TAINTED));
    // The directory now points at an uninitialized inode: writing it is refused.
    assert_eq!(xn.writeback(ALICE, root, 1), Err(Error::Tainted));
    assert_eq!(xn.writeback(BOB, root, 1), Err(Error::Tainted));
    // The inode points at an uninitialized data block: also tainted.
    assert_eq!(xn.writeback(ALICE, ino, 1), Err(Error::Tainted));
    let d = xn.udf_enum(ino, 0, 1).unwrap()[0].db;
    // Anyone may flush (a syncer daemon); bottom-up order succeeds.
    assert_eq!(xn.writeback(BOB, d, 1), Ok(1));
    assert!(!xn.is_tainted(ino));
    xn.writeback(BOB, ino, 1).unwrap();
    assert!(!xn.is_tainted(root));
    xn.writeback(BOB, root, 1).unwrap();
    // Locks hold others off.
    xn.writeb(ALICE, d, 0, b"DATA").unwrap();
    xn.lock(ALICE, d).unwrap();
    assert_eq!(xn.writeback(BOB, d, 1), Err(Error::Locked));
    assert_eq!(xn.unlock(BOB, d), Err(Error::Locked));
    assert_eq!(xn.delete_attr(BOB, d, 1), Err(Error::Dirty));
    xn.writeback(ALICE, d, 1).unwrap();
    assert_eq!(xn.delete_attr(BOB, d, 1), Err(Error::Locked));
    xn.unlock(ALICE, d).unwrap();
    // Only who may write a block may lock or evict it.
    assert_eq!(xn.lock(BOB, d), Err(Error::AccessDenied));
    assert_eq!(xn.delete_attr(BOB, d, 1), Err(Error::AccessDenied));
    // A holder that ends lets go of its locks.
    xn.lock(ALICE, d).unwrap();
    xn.unlock_all(ALICE.env);
    assert!(!xn.read_attr(d).unwrap().has(state::LOCKED));
    xn.delete_attr(ALICE, d, 1).unwrap();
    assert!(xn.read_attr(d).is_none());
}

#[test]
fn temporary_trees_skip_ordering_and_vanish() {
    let mut disk = MemDisk::new(256);
    let before;
    {
        let (mut xn, t, _) = setup(&mut disk);
        sample::sync(&mut xn, ALICE).unwrap();
        before = xn.freemap().allocated_count();
        let tmp = sample::make_root(&mut xn, ALICE, t, "tmp", true).unwrap();
        let ino = sample::create(&mut xn, ALICE, t, tmp, "f", &data(3 * BLOCK_SIZE, 2), 0).unwrap();
        assert!(xn.is_tainted(tmp));
        // Volatile: may be written in any order (paged out).
        assert_eq!(xn.writeback(ALICE, tmp, 1), Ok(1));
        assert_eq!(xn.writeback(ALICE, ino, 1), Ok(1));
        assert!(xn.freemap().allocated_count() > before);
        xn.shutdown().unwrap();
    }
    let xn: TestXn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
    assert!(xn.catalogue().find("tmp").is_none());
    assert_eq!(xn.freemap().allocated_count(), before);
}

#[test]
fn free_waits_on_will_free_until_pointer_is_gone() {
    let mut disk = MemDisk::new(256);
    let (mut xn, t, root) = setup(&mut disk);
    let ino = sample::create(&mut xn, ALICE, t, root, "f", &data(2 * BLOCK_SIZE, 3), 0).unwrap();
    sample::sync(&mut xn, ALICE).unwrap();
    let d0 = xn.udf_enum(ino, 0, 1).unwrap()[0];
    // Bob cannot free Alice's block, nor pretend his own inode owns it.
    assert_eq!(
        xn.free(
            BOB,
            ino,
            d0,
            &[Mod {
                offset: 64,
                bytes: &zero8()
            }],
            &[]
        ),
        Err(Error::AccessDenied)
    );
    let broot = sample::make_root(&mut xn, BOB, t, "bob", false).unwrap();
    let b_ino = sample::create(&mut xn, BOB, t, broot, "b", b"", 0).unwrap();
    assert_eq!(
        xn.free(
            BOB,
            b_ino,
            d0,
            &[Mod {
                offset: 64,
                bytes: &zero8()
            }],
            &[]
        ),
        Err(Error::BogusUpdate)
    );
    // Alice frees it: the on-disk inode still points there, so it is not reusable yet.
    xn.free(
        ALICE,
        ino,
        d0,
        &[Mod {
            offset: 64,
            bytes: &zero8(),
        }],
        &[],
    )
    .unwrap();
    assert!(!xn.freemap().is_free(d0.db));
    assert_eq!(xn.will_free(), vec![(d0.db, 1)]);
    assert_eq!(xn.check_extent(d0.db, 1), Err(Error::NotFree));
    xn.writeback(ALICE, ino, 1).unwrap();
    assert!(xn.freemap().is_free(d0.db) && xn.will_free().is_empty());
    // A block allocated and freed before any write is free at once.
    let f = xn.find_free(0, 1).unwrap();
    let u = Update {
        own_id: 5,
        db: f,
        nblocks: 1,
        ty: TypeId::DB,
    };
    xn.alloc(
        ALICE,
        ino,
        u,
        &[Mod {
            offset: 64 + 40,
            bytes: &f.to_le_bytes(),
        }],
        Init::Zero,
    )
    .unwrap();
    assert!(xn.is_tainted(ino));
    xn.free(
        ALICE,
        ino,
        u,
        &[Mod {
            offset: 64 + 40,
            bytes: &zero8(),
        }],
        &[],
    )
    .unwrap();
    assert!(xn.freemap().is_free(f) && !xn.is_tainted(ino));
    // Removing a file with a hard link only drops the count; the second unlink frees.
    let mv = [
        Mod {
            offset: 128 + 40,
            bytes: &[1],
        },
        Mod {
            offset: 128 + 48,
            bytes: &ino.to_le_bytes(),
        },
    ];
    xn.add_edge(
        ALICE,
        root,
        1,
        &mv,
        ino,
        &[Mod {
            offset: 8,
            bytes: &2u32.to_le_bytes(),
        }],
    )
    .unwrap();
    let u = Update {
        own_id: 1,
        db: ino,
        nblocks: 1,
        ty: t.inode,
    };
    let unlink = [
        Mod {
            offset: 128 + 40,
            bytes: &[0],
        },
        Mod {
            offset: 128 + 48,
            bytes: &zero8(),
        },
    ];
    assert_eq!(
        xn.free(
            ALICE,
            root,
            u,
            &unlink,
            &[Mod {
                offset: 8,
                bytes: &0u32.to_le_bytes()
            }]
        ),
        Err(Error::BogusUpdate)
    );
    xn.free(
        ALICE,
        root,
        u,
        &unlink,
        &[Mod {
            offset: 8,
            bytes: &1u32.to_le_bytes(),
        }],
    )
    .unwrap();
    assert!(xn.read_attr(ino).is_some());
    // The last link: the inode still owns a block, so it may not die yet.
    let u0 = Update {
        own_id: 0,
        db: ino,
        nblocks: 1,
        ty: t.inode,
    };
    let unlink0 = [
        Mod {
            offset: 64 + 40,
            bytes: &[0],
        },
        Mod {
            offset: 64 + 48,
            bytes: &zero8(),
        },
    ];
    assert_eq!(
        xn.free(
            ALICE,
            root,
            u0,
            &unlink0,
            &[Mod {
                offset: 8,
                bytes: &0u32.to_le_bytes()
            }]
        ),
        Err(Error::NotEmpty)
    );
    sample::remove(&mut xn, ALICE, t, root, "f").unwrap();
    sample::sync(&mut xn, ALICE).unwrap();
    assert!(xn.will_free().is_empty());
    assert!(xn.freemap().is_free(ino));
}

#[test]
fn bad_templates_refused_at_import() {
    let mut disk = MemDisk::new(128);
    let mut xn: TestXn = Xn::format(&mut disk, VecPageStore::new()).unwrap();
    let mut a = udf::asm::Asm::new();
    a.time(1).ret(1);
    let tpl = template::Template {
        name: "evil".into(),
        nparts: 1,
        owns: a.finish(),
        refcnt: vec![],
        acl: vec![],
        size: vec![],
    };
    let db = xn
        .install_mount(ALICE, "evil", None, 1, MountKind::Type, Init::Zero)
        .unwrap();
    xn.writeb(ALICE, db, 0, &tpl.encode()).unwrap();
    assert_eq!(xn.type_import(ALICE, "evil"), Err(Error::Dirty));
    xn.writeback(ALICE, db, 1).unwrap();
    assert_eq!(xn.type_import(BOB, "evil"), Err(Error::AccessDenied));
    assert!(matches!(
        xn.type_import(ALICE, "evil"),
        Err(Error::Verify(udf::VerifyError::Forbidden { .. }))
    ));
    // Bob may not write Alice's type extent.
    assert_eq!(xn.writeb(BOB, db, 0, b"x"), Err(Error::AccessDenied));
    xn.writeb(ALICE, db, 0, b"garbage").unwrap();
    xn.writeback(ALICE, db, 1).unwrap();
    assert!(matches!(
        xn.type_import(ALICE, "evil"),
        Err(Error::Verify(_))
    ));
    // A root of a type that does not exist, a root that owns things from birth.
    assert_eq!(
        xn.install_mount(
            ALICE,
            "r",
            None,
            1,
            MountKind::Root {
                ty: TypeId(40),
                temporary: false
            },
            Init::Zero
        ),
        Err(Error::BadType)
    );
    let t = sample::install_types(&mut xn, ALICE).unwrap();
    let mut img = [0u8; 128];
    img[64 + 40] = 1;
    img[64 + 48..64 + 56].copy_from_slice(&100u64.to_le_bytes());
    assert_eq!(
        xn.install_mount(
            ALICE,
            "r",
            None,
            1,
            MountKind::Root {
                ty: t.dir,
                temporary: false
            },
            Init::Bytes(&img)
        ),
        Err(Error::BogusUpdate)
    );
    // Imported types are immutable.
    let (_, e) = xn.catalogue().find(sample::DIR_NAME).unwrap();
    let tdb = e.db;
    assert_eq!(xn.writeb(ALICE, tdb, 0, b"x"), Err(Error::AccessDenied));
}

#[test]
fn bad_images_give_errors() {
    let mut disk = MemDisk::new(64);
    assert!(matches!(
        Xn::open(&mut disk, VecPageStore::new()).err(),
        Some(Error::BadImage(_))
    ));
    {
        let (mut xn, _, _) = setup(&mut disk);
        xn.shutdown().unwrap();
    }
    let good = disk.bytes().to_vec();
    // Truncated.
    let mut short = MemDisk::from_bytes(good[..20 * BLOCK_SIZE].to_vec());
    assert!(matches!(
        Xn::open(&mut short, VecPageStore::new()).err(),
        Some(Error::BadImage(_))
    ));
    assert!(reconstruct(&mut short, false).is_err());
    // Corrupt catalogue entry.
    let sb = layout::Superblock::for_disk(64).unwrap();
    let mut bad = good.clone();
    bad[sb.cat_start as usize * BLOCK_SIZE + 3] ^= 0xff;
    assert!(matches!(
        Xn::open(&mut MemDisk::from_bytes(bad.clone()), VecPageStore::new()).err(),
        Some(Error::BadImage(_))
    ));
    // Corrupt superblock.
    let mut bad = good.clone();
    bad[20] ^= 1;
    assert!(matches!(
        Xn::open(&mut MemDisk::from_bytes(bad), VecPageStore::new()).err(),
        Some(Error::BadImage(_))
    ));
    // Random garbage in every XN block: errors, never panics.
    let mut x: u64 = 99;
    for round in 0..200 {
        let mut bad = good.clone();
        for _ in 0..(1 + round % 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let off = (x as usize) % (sb.data_start as usize * BLOCK_SIZE + 4 * BLOCK_SIZE);
            bad[off] = (x >> 32) as u8;
        }
        let mut d = MemDisk::from_bytes(bad);
        let _ = Xn::open_read_only(&mut d, VecPageStore::new());
        let _ = reconstruct(&mut d, false);
    }
}

/// The reachable set computed independently of XN's reconstruction, through the sample
/// layout (what a libFS would believe).
fn walk_sample(disk: &mut MemDisk) -> (Vec<Db>, BTreeMap<String, Vec<u8>>) {
    let mut xn: TestXn = Xn::open_read_only(disk, VecPageStore::new()).unwrap();
    let t = sample::find_types(&xn).unwrap();
    let mut blocks: Vec<Db> = xn
        .catalogue()
        .iter()
        .flat_map(|(_, e)| e.db..e.db + e.nblocks)
        .collect();
    let mut files = BTreeMap::new();
    if xn.catalogue().find("alice").is_some() {
        let root = sample::mount_root(&mut xn, "alice").unwrap();
        for e in sample::list_dir(&xn, root).unwrap() {
            sample::load(
                &mut xn,
                root,
                Update {
                    own_id: e.slot,
                    db: e.db,
                    nblocks: 1,
                    ty: t.inode,
                },
            )
            .unwrap();
            files.insert(e.name.clone(), sample::read_file(&mut xn, t, e.db).unwrap());
        }
    }
    blocks.extend(xn.registry().iter().map(|a| a.db));
    blocks.sort_unstable();
    blocks.dedup();
    (blocks, files)
}

#[test]
fn crash_anywhere_then_reconstruct() {
    let mut seed: u64 = 0x5eed;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut crashes, mut checked) = (0, 0);
    for round in 0..40 {
        let mut disk = MemDisk::new(512);
        {
            let (mut xn, _, _) = setup(&mut disk);
            sample::sync(&mut xn, ALICE).unwrap();
            xn.shutdown().unwrap();
        }
        let crash_at = 5 + rnd() % 120;
        disk.fail_after(Some(crash_at));
        // name → contents as of the last successful sync that included it.
        let mut synced: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let unsynced_deletes: Vec<String>;
        {
            let mut xn: TestXn = match Xn::open(&mut disk, VecPageStore::new()) {
                Ok(x) => x,
                Err(_) => continue,
            };
            let t = sample::find_types(&xn).unwrap();
            let root = sample::mount_root(&mut xn, "alice").unwrap();
            let mut live: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let mut pending_del: Vec<String> = Vec::new();
            for step in 0..60 {
                let r = rnd() % 10;
                let res = if r < 5 {
                    let name = alloc::format!("f{round}_{step}");
                    let body = data((rnd() % (40 * BLOCK_SIZE as u64)) as usize, step as u8);
                    let res = sample::create(&mut xn, ALICE, t, root, &name, &body, 0).map(|_| ());
                    if res.is_ok() {
                        live.insert(name, body);
                    }
                    res
                } else if r < 7 && !live.is_empty() {
                    let name = live
                        .keys()
                        .nth((rnd() as usize) % live.len())
                        .cloned()
                        .unwrap();
                    let ents = sample::list_dir(&xn, root).unwrap();
                    let e = ents.iter().find(|e| e.name == name).unwrap().clone();
                    if xn.read_attr(e.db).is_none() {
                        let _ = sample::load(
                            &mut xn,
                            root,
                            Update {
                                own_id: e.slot,
                                db: e.db,
                                nblocks: 1,
                                ty: t.inode,
                            },
                        );
                    }
                    live.remove(&name);
                    pending_del.push(name.clone());
                    sample::remove(&mut xn, ALICE, t, root, &name)
                } else {
                    let r = sample::sync(&mut xn, ALICE);
                    if r.is_ok() {
                        synced = live.clone();
                        pending_del.clear();
                    }
                    r
                };
                match res {
                    Ok(()) => {}
                    Err(Error::NoSpace) => {}
                    Err(Error::Exists) => {}
                    Err(Error::Disk(_)) => {
                        crashes += 1;
                        break; // the crash
                    }
                    Err(e) => panic!("round {round} step {step}: {e:?}"),
                }
            }
            unsynced_deletes = pending_del;
            // Crash: the registry, pages, will-free list and free map vanish.
            drop(xn);
        }
        disk.fail_after(None);
        assert!(
            matches!(
                Xn::open(&mut disk, VecPageStore::new()).err(),
                Some(Error::NeedsRecovery)
            ) || disk.writes == 0
        );
        let rep = reconstruct(&mut disk, true).unwrap();
        assert!(
            rep.violations.is_empty(),
            "round {round}: {:?}",
            rep.violations
        );
        let (reach, files) = walk_sample(&mut disk);
        let mut xn: TestXn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
        // The free map equals the one the roots imply.
        let mut expect: Vec<Db> = (0..xn.info().data_start).collect();
        expect.extend(reach);
        expect.sort_unstable();
        expect.dedup();
        assert_eq!(
            xn.freemap().allocated().collect::<Vec<_>>(),
            expect,
            "round {round}"
        );
        // Nothing synced is lost (files deleted since the last sync may be either way).
        for (name, body) in &synced {
            if unsynced_deletes.contains(name) {
                continue;
            }
            assert_eq!(
                files.get(name),
                Some(body),
                "round {round}: synced file {name} lost"
            );
            checked += 1;
        }
        // Whatever survived is intact: every file reads back as some version we wrote.
        for (name, body) in &files {
            assert_eq!(body.len() as u64, body.len() as u64);
            assert!(
                synced.get(name).is_none_or(|b| b == body),
                "round {round}: {name} corrupted"
            );
        }
        xn.shutdown().unwrap();
    }
    assert!(
        crashes > 20 && checked > 10,
        "workload too gentle: {crashes} crashes, {checked} files checked"
    );
}

#[test]
fn reconstruction_logs_refcount_violations_and_taints_the_root() {
    let mut disk = MemDisk::new(256);
    let ino;
    {
        let (mut xn, t, root) = setup(&mut disk);
        ino = sample::create(&mut xn, ALICE, t, root, "f", b"abc", 0).unwrap();
        sample::sync(&mut xn, ALICE).unwrap();
        xn.shutdown().unwrap();
    }
    // Simulate a crash between writing a new edge and its count: count says 2, one edge.
    let mut img = disk.bytes().to_vec();
    img[ino as usize * BLOCK_SIZE + 8] = 2;
    let mut disk = MemDisk::from_bytes(img);
    let rep = reconstruct(&mut disk, true).unwrap();
    assert_eq!(
        rep.violations,
        vec![Violation::RefcntMismatch {
            block: ino,
            stored: 2,
            counted: 1
        }]
    );
    assert_eq!(rep.tainted_roots, vec![String::from("alice")]);
    let mut xn: TestXn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
    let root = xn.catalogue().find("alice").unwrap().1.db;
    xn.read_and_insert(root, 1, None).unwrap();
    assert_eq!(xn.mount("alice").err(), Some(Error::RootTainted));
}

#[test]
fn registry_view_and_enumeration() {
    let mut disk = MemDisk::new(256);
    let (mut xn, t, root) = setup(&mut disk);
    let ino = sample::create(&mut xn, ALICE, t, root, "f", &data(3 * BLOCK_SIZE, 1), 0).unwrap();
    let a = xn.read_attr(ino).unwrap();
    assert_eq!((a.parent, a.type_id()), (root, t.inode));
    assert!(a.has(state::UNINIT) && a.has(state::DIRTY) && a.page().is_some());
    let ups = xn.udf_enum(ino, 0, 33).unwrap();
    assert_eq!(ups.len(), 3);
    let mut out = vec![xn.read_attr(root).unwrap(); 64];
    assert_eq!(xn.registry().export(&mut out), xn.registry().len());
    // Raw read: unknown type until bound through a parent; insert_attr makes out-of-core entries.
    sample::sync(&mut xn, ALICE).unwrap();
    xn.delete_attr(ALICE, ups[0].db, 1).unwrap();
    xn.read_and_insert(ups[0].db, 1, None).unwrap();
    assert_eq!(xn.read_attr(ups[0].db).unwrap().type_id(), TypeId::UNKNOWN);
    let mut b = [0u8; 4];
    assert_eq!(xn.readb(ALICE, ups[0].db, 0, &mut b), Err(Error::Unbound));
    xn.insert_attr(ino, ups[0]).unwrap();
    xn.readb(ALICE, ups[0].db, 0, &mut b).unwrap();
    xn.delete_attr(ALICE, ups[1].db, 1).unwrap();
    xn.insert_attr(ino, ups[1]).unwrap();
    assert!(xn.read_attr(ups[1].db).unwrap().has(state::OUT_OF_CORE));
    assert_eq!(xn.read_and_insert(0, 1, None), Err(Error::BadBlock));
    let f = xn.find_free(0, 1).unwrap();
    assert_eq!(xn.read_and_insert(f, 1, None), Err(Error::NotFree));
}
