//! Two mutually distrustful libFSes on one disk: Alice's cffs tree and Bob's
//! flat store, each owned by its own capability. Neither can modify, free,
//! claim or (when private) read the other's blocks: XN refuses, for the
//! right reason, and both stay intact.

use super::*;
use crate::fs::cffs::layout::{entry_off, OFF_PTRS};
use crate::fs::cffs::Cffs;
use crate::fs::flat::layout::{record_off, RECORD_SIZE};
use crate::fs::flat::Flat;
use crate::fs::FsError;
use exo_xn::recovery::reconstruct;

fn upd(own_id: u32, db: Db, nblocks: u64, ty: TypeId) -> Update {
    Update {
        own_id,
        db,
        nblocks,
        ty,
    }
}

fn denied<T: core::fmt::Debug>(r: Result<T, FsError>) {
    assert!(
        matches!(r, Err(FsError::Xn(Error::AccessDenied))),
        "expected AccessDenied, got {r:?}"
    );
}

#[test]
fn flat_store_semantics() {
    let sh = Shared::new(fresh(512), BOB);
    let mut f = Flat::mkfs(sh.clone(), "bob", 0).unwrap();
    f.put("empty", b"").unwrap();
    f.put("one", &data(100, 1)).unwrap();
    f.put("big", &data(20 * 4096 + 3, 2)).unwrap();
    assert_eq!(f.get("one").unwrap(), data(100, 1));
    assert_eq!(f.get("empty").unwrap(), b"");
    // Replace: the new extent is in before the old one goes.
    f.put("one", &data(9000, 3)).unwrap();
    assert_eq!(f.get("one").unwrap(), data(9000, 3));
    assert_eq!(f.list().unwrap().len(), 3);
    f.delete("big").unwrap();
    assert_eq!(f.get("big"), Err(FsError::NotFound));
    assert_eq!(f.put(&"x".repeat(41), b""), Err(FsError::NameTooLong));
    f.sync().unwrap();
    drop(f);
    let mut f = Flat::mount(sh.clone(), "bob").unwrap();
    assert_eq!(f.get("one").unwrap(), data(9000, 3));
    // The table holds 63 records.
    for i in 0..61 {
        f.put(&alloc::format!("k{i}"), b"v").unwrap();
    }
    assert_eq!(f.put("overflow", b"v"), Err(FsError::NoSpace));
    // Replacing in a full table still works (old freed first).
    f.put("k3", &data(5000, 4)).unwrap();
    assert_eq!(f.get("k3").unwrap(), data(5000, 4));
    f.sync().unwrap();
}

#[test]
fn distrustful_libfses_share_a_disk() {
    let alice = Shared::new(fresh(1024), ALICE);
    let mut bob = alice.as_(BOB);
    let mut fs = Cffs::mkfs(alice.clone(), "alice").unwrap();
    fs.mkdir("/docs").unwrap();
    fs.write_file("/docs/note", &data(6000, 7)).unwrap();
    let mut store = Flat::mkfs(bob.clone(), "bob", 0).unwrap();
    store.put("secret", &data(5000, 8)).unwrap();
    fs.sync().unwrap();
    store.sync().unwrap();

    let adir = fs.stat("/docs/note").unwrap().dir_block;
    let adata = fs.blocks("/docs/note").unwrap();
    let table = store.table();
    let brec = store.list().unwrap();
    assert_eq!(brec.len(), 1);
    let mut a = alice.clone();
    let bdata = {
        let ups = a.udf_enum(table, 0, 63).unwrap();
        assert_eq!(ups.len(), 1);
        ups[0]
    };

    // Bob against Alice's tree.
    let e = |r: Result<(), Error>| r.map_err(FsError::from);
    denied(e(bob.writeb(adir, entry_off(0), b"evil")));
    denied(e(bob.writeb(adata[0], 0, b"evil")));
    let free_blk = bob.find_free(0, 1).unwrap();
    let ptr = free_blk.to_le_bytes();
    let slot_ptr = entry_off(0) + OFF_PTRS + 8 * 7;
    denied(e(bob.alloc(
        adir,
        upd(0, free_blk, 1, TypeId::DB),
        &[Mod {
            offset: slot_ptr,
            bytes: &ptr,
        }],
        Init::Zero,
    )));
    denied(e(bob.free(
        adir,
        upd(0, adata[0], 1, TypeId::DB),
        &[Mod {
            offset: entry_off(0) + OFF_PTRS,
            bytes: &[0; 8],
        }],
        &[],
    )));
    // Claiming Alice's data block for his own store: not free.
    let mut rec = [0u8; RECORD_SIZE];
    rec[..4].copy_from_slice(b"grab");
    rec[48..56].copy_from_slice(&adata[0].to_le_bytes());
    rec[56..64].copy_from_slice(&1u64.to_le_bytes());
    assert_eq!(
        bob.alloc(
            table,
            upd(1, adata[0], 1, TypeId::DB),
            &[Mod {
                offset: record_off(1),
                bytes: &rec
            }],
            Init::Zero
        ),
        Err(Error::NotFree)
    );
    // Forging: claiming one block while the record names another.
    let other = bob.find_free(0, 1).unwrap();
    assert_eq!(
        bob.alloc(
            table,
            upd(1, other + 1, 1, TypeId::DB),
            &[Mod {
                offset: record_off(1),
                bytes: &{
                    let mut r = rec;
                    r[48..56].copy_from_slice(&other.to_le_bytes());
                    r
                }
            }],
            Init::Zero
        ),
        Err(Error::BogusUpdate)
    );
    // A root of Alice's type that claims her blocks from the start.
    let mut img = [0u8; 256];
    img[..8].copy_from_slice(&BOB.cap.to_le_bytes());
    img[64 + 40] = 1;
    img[64 + 41] = 1;
    img[64] = b'x';
    img[64 + OFF_PTRS..64 + OFF_PTRS + 8].copy_from_slice(&adata[0].to_le_bytes());
    let dir_ty = fs.types().dir;
    assert_eq!(
        bob.install_mount(
            "bob-steal",
            None,
            1,
            MountKind::Root {
                ty: dir_ty,
                temporary: false
            },
            Init::Bytes(&img)
        ),
        Err(Error::BogusUpdate)
    );
    // Bob through the cffs code: the tree is world-readable, not writable.
    let mut bfs = Cffs::mount(bob.clone(), "alice").unwrap();
    assert_eq!(bfs.read_file("/docs/note").unwrap(), data(6000, 7));
    denied(bfs.write_file("/docs/note", b"defaced"));
    denied(bfs.create("/docs/planted"));
    denied(bfs.unlink("/docs/note"));
    denied(bfs.rename("/docs/note", "/docs/moved"));
    denied(bfs.mkdir("/bobdir"));
    // The templates themselves are immutable.
    let tdb = bob.lookup("cffs.dir").unwrap().db;
    let _ = bob.read_and_insert(tdb, 1);
    assert!(bob.writeb(tdb, 0, b"XNT1").is_err());

    // Alice against Bob's private store.
    let mut buf = [0u8; 16];
    assert_eq!(a.readb(table, 0, &mut buf), Err(Error::AccessDenied));
    assert!(matches!(
        Flat::mount(alice.clone(), "bob"),
        Err(FsError::Xn(Error::AccessDenied))
    ));
    assert_eq!(
        a.free(
            table,
            bdata,
            &[Mod {
                offset: record_off(0),
                bytes: &[0; RECORD_SIZE]
            }],
            &[]
        ),
        Err(Error::AccessDenied)
    );
    a.insert_attr(table, bdata).unwrap();
    a.read_and_insert(bdata.db, 1).unwrap();
    assert_eq!(a.readb(bdata.db, 0, &mut buf), Err(Error::AccessDenied));
    // Alice's cffs cannot take Bob's extent either.
    let dloc_ptr = entry_off(0) + OFF_PTRS + 8 * 7;
    assert_eq!(
        a.alloc(
            adir,
            upd(0, bdata.db, 1, TypeId::DB),
            &[Mod {
                offset: dloc_ptr,
                bytes: &bdata.db.to_le_bytes()
            }],
            Init::Zero
        ),
        Err(Error::NotFree)
    );

    // Both still intact, and the disk consistent.
    assert_eq!(fs.read_file("/docs/note").unwrap(), data(6000, 7));
    assert_eq!(store.get("secret").unwrap(), data(5000, 8));
    fs.sync().unwrap();
    store.sync().unwrap();
    drop((fs, bfs, store, a, bob));
    let mut xn = Rc::try_unwrap(alice.xn).ok().unwrap().into_inner();
    xn.shutdown().unwrap();
    let (mut disk, _) = xn.into_parts();
    let rep = reconstruct(&mut disk, false).unwrap();
    assert!(rep.violations.is_empty(), "{:?}", rep.violations);
}
