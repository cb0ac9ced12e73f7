//! XN end to end in the guest: formats the disk if it is blank, installs
//! the sample file-system types through the XN system call, creates a root
//! `home` with `hello.txt`, syncs and shuts XN down cleanly (the host then
//! reads the file with `exo xn cat`). Then a second process, holding a
//! different capability, attacks that tree and its own, and must be refused
//! by XN for the right reason every time.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use exo_xn::api::XnCalls;
use exo_xn::sample::{self, Types};
use exo_xn::{Db, Error, Init, Mod, TypeId, Update};
use libos::xn::Sys;
use libos::{println, process, sys};

libos::entry!(main);

pub const CONTENT: &[u8] = b"hello from the exo guest, through XN\n";

fn main() -> u8 {
    let mut args = process::args().skip(1);
    match args.next() {
        Some("attack") => attack(args.filter_map(|a| a.parse().ok())),
        _ => owner(),
    }
}

fn owner() -> u8 {
    let mut x = match Sys::new(0) {
        Ok(x) => x,
        Err(e) => {
            println!("xn_check: no XN: {e}");
            return 2;
        }
    };
    if x.nblocks().is_err() {
        match x.format(false) {
            Ok(()) => println!("xn_check: formatted the disk for XN"),
            Err(e) => {
                println!("xn_check: cannot format: {e}");
                return 2;
            }
        }
    }
    match setup(&mut x) {
        Ok((root, ino, data, secret)) => {
            println!("xn_check: home/hello.txt written and synced");
            // The registry window shows the cached inode, bound under the root.
            let reg = libos::xn::registry();
            let seen = reg.iter().find(|a| a.db == ino).map(|a| (a.parent, a.page));
            println!(
                "xn_check: registry window: {} cached blocks; the inode is {}",
                reg.len(),
                match seen {
                    Some((p, pg)) if p == root && pg != u64::MAX => "bound under home, in core",
                    Some(_) => "WRONG",
                    None => "MISSING",
                }
            );
            // Even the root capability cannot go around XN once it holds the disk.
            let mut sector = [0u8; 512];
            let raw = sys::blk_read(0, &mut sector, 0);
            println!("xn_check: raw disk read by the root capability: {raw:?}");
            if raw != Err(exo_abi::syscall::Error::Busy) {
                return 1;
            }
            let me = format!("attack {root} {ino} {data} {secret}");
            let argv: alloc::vec::Vec<&str> =
                core::iter::once("xn_check").chain(me.split(' ')).collect();
            let status = process::run("/bin/xn_check", &argv).unwrap_or(99);
            // The attacker ended holding a lock on its own root.
            let freed = x.lookup("evil").is_ok_and(|e| {
                libos::xn::registry()
                    .iter()
                    .find(|a| a.db == e.db)
                    .is_some_and(|a| a.state & exo_xn::registry::state::LOCKED == 0)
            });
            println!(
                "xn_check: a lock is let go when its holder ends: {}",
                if freed { "yes" } else { "NO" }
            );
            let status = if freed { status } else { 1 };
            if let Err(e) = x.shutdown() {
                println!("xn_check: shutdown failed: {e}");
                return 1;
            }
            println!("xn_check: XN shut down cleanly");
            status
        }
        Err(e) => {
            println!("xn_check: FAILED: {e}");
            1
        }
    }
}

/// Types, root and files; returns (root dir, inode, first data block, the
/// first data block of a private file).
fn setup(x: &mut Sys) -> Result<(Db, Db, Db, Db), Error> {
    let t = match sample::find_types_via(x) {
        Some(t) => t,
        None => sample::install_types_via(x)?,
    };
    let root = match x.lookup("home") {
        Ok(e) => {
            // The block goes into a page of ours, which XN keeps while cached.
            let ppn = libos::vm::alloc_page(0).map_err(|_| Error::NoSpace)?;
            x.read_and_insert_into(e.db, &[ppn])?;
            let in_ours = x.read_attr(e.db).is_some_and(|a| a.page == ppn);
            let kernels = libos::info::page(ppn).is_some_and(|p| p.owner == exo_abi::pages::KERNEL);
            println!(
                "xn_check: home's block read into our own page: {}",
                if in_ours && kernels {
                    "yes, now the kernel's while cached"
                } else {
                    "NO"
                }
            );
            x.mount("home")?;
            e.db
        }
        Err(Error::NoSuchName) => sample::make_root_via(x, t, "home", false)?,
        Err(e) => return Err(e),
    };
    let ino = match sample::list_dir_via(x, root)?
        .into_iter()
        .find(|e| e.name == "hello.txt")
    {
        Some(e) => {
            load(x, root, e.slot, e.db, t.inode)?;
            e.db
        }
        None => sample::create_via(x, t, root, "hello.txt", CONTENT, sample::MODE_PUBLIC)?,
    };
    let data = x
        .udf_enum(ino, 0, 1)?
        .first()
        .map(|u| u.db)
        .ok_or(Error::NotInCore)?;
    if x.read_attr(data).is_none() {
        load(x, ino, 0, data, TypeId::DB)?;
    }
    let secret = match sample::list_dir_via(x, root)?
        .into_iter()
        .find(|e| e.name == "secret.txt")
    {
        Some(e) => {
            load(x, root, e.slot, e.db, t.inode)?;
            e.db
        }
        None => sample::create_via(x, t, root, "secret.txt", b"private\n", 0)?,
    };
    let secret_data = x
        .udf_enum(secret, 0, 1)?
        .first()
        .map(|u| u.db)
        .ok_or(Error::NotInCore)?;
    if x.read_attr(secret_data).is_none() {
        load(x, secret, 0, secret_data, TypeId::DB)?;
    }
    sample::sync_via(x)?;
    Ok((root, ino, data, secret_data))
}

fn load(x: &mut Sys, parent: Db, part: u32, db: Db, ty: TypeId) -> Result<(), Error> {
    let u = Update {
        own_id: part,
        db,
        nblocks: 1,
        ty,
    };
    x.insert_attr(parent, u)?;
    x.read_and_insert(db, 1).map(drop)
}

fn report(ok: &mut bool, what: &str, r: Result<(), Error>, want: &[Error]) {
    let good = matches!(&r, Err(e) if want.contains(e));
    *ok &= good;
    let how = match r {
        Ok(()) => String::from("ALLOWED"),
        Err(e) => format!("refused ({e})"),
    };
    println!(
        "xn_check: attack: {what}: {how}{}",
        if good { "" } else { " WRONG" }
    );
}

/// A process with another capability against the owner's tree.
fn attack(mut nums: impl Iterator<Item = u64>) -> u8 {
    let (Some(root), Some(ino), Some(data), Some(secret)) =
        (nums.next(), nums.next(), nums.next(), nums.next())
    else {
        println!("xn_check: attack needs ROOT INODE DATA SECRET");
        return 2;
    };
    let Ok(mut x) = Sys::new(0) else {
        println!("xn_check: attacker has no XN");
        return 2;
    };
    let Some(t) = sample::find_types_via(&mut x) else {
        println!("xn_check: attacker sees no types");
        return 2;
    };
    let mut ok = true;
    let mut page = [0u8; 4096];
    // Public blocks are readable by anyone: the acl-uf says so.
    let public = x.readb(root, 0, &mut page).is_ok();
    ok &= public;
    println!(
        "xn_check: the owner's public directory is readable: {}",
        if public { "yes" } else { "NO" }
    );
    // Shared by mapping: the owner's public directory is XN's own page,
    // mapped read-only here, the same bytes the call copies.
    let shared = x.map_block(root).is_some_and(|b| b[..] == page[..]);
    ok &= shared;
    println!(
        "xn_check: the owner's public directory mapped read-only: {}",
        if shared { "yes, the same bytes" } else { "NO" }
    );
    report(
        &mut ok,
        "map the owner's private file",
        x.bind(secret, Sys::window_va(secret)),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "map a block above user space",
        x.bind(root, exo_abi::layout::USER_TOP),
        &[Error::BadRange],
    );
    report(
        &mut ok,
        "map a block not in the cache",
        x.bind(1 << 40, Sys::window_va(root)),
        &[Error::NotInCore],
    );
    report(
        &mut ok,
        "lock the owner's directory",
        x.lock(root),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "evict the owner's private file",
        x.delete_attr(secret, 1),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "make the mapped directory writable",
        sys::vm_batch(
            sys::env_id(),
            0,
            &[libos::vm::protect_op(Sys::window_va(root), true, 0)],
        )
        .map_err(|_| Error::AccessDenied),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "add an entry to the owner's directory",
        sample::mkdir_via(&mut x, t, root, "intruder").map(drop),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "overwrite the owner's file data",
        x.writeb(data, 0, b"pwned"),
        &[Error::AccessDenied],
    );
    let slot = sample::list_dir_via(&mut x, root)
        .ok()
        .and_then(|l| l.into_iter().find(|e| e.db == ino).map(|e| e.slot))
        .unwrap_or(0);
    report(
        &mut ok,
        "unlink the owner's file",
        x.free(
            root,
            Update {
                own_id: slot,
                db: ino,
                nblocks: 1,
                ty: t.inode,
            },
            &[Mod {
                offset: 64 + 64 * slot as usize + 40,
                bytes: &[0],
            }],
            &[Mod {
                offset: 8,
                bytes: &0u32.to_le_bytes(),
            }],
        ),
        &[Error::AccessDenied],
    );
    let evil = match x.lookup("evil") {
        Ok(e) => x
            .read_and_insert(e.db, 1)
            .and_then(|_| x.mount("evil"))
            .map(|_| e.db),
        Err(_) => sample::make_root_via(&mut x, t, "evil", false),
    };
    let evil = match evil {
        Ok(db) => db,
        Err(e) => {
            println!("xn_check: attacker cannot make its own root: {e}");
            return 1;
        }
    };
    report(
        &mut ok,
        "claim the owner's data block from its own tree",
        x.alloc(
            evil,
            Update {
                own_id: 0,
                db: data,
                nblocks: 1,
                ty: t.inode,
            },
            &[Mod {
                offset: 64 + 40,
                bytes: &[sample::KIND_FILE],
            }],
            Init::Zero,
        ),
        &[Error::NotFree, Error::BogusUpdate],
    );
    report(
        &mut ok,
        "forge an entry pointing at the owner's inode with a plain write",
        {
            let mut entry = [0u8; 16];
            entry[0] = sample::KIND_FILE;
            entry[8..].copy_from_slice(&ino.to_le_bytes());
            x.writeb(evil, 64 + 40, &entry)
        },
        &[Error::ProtectedBytes],
    );
    report(
        &mut ok,
        "lie to XN about what an allocation changes",
        {
            let db = x.find_free(evil, 1).unwrap_or(0);
            x.alloc(
                evil,
                Update {
                    own_id: 0,
                    db,
                    nblocks: 1,
                    ty: t.inode,
                },
                &[Mod {
                    offset: 64 + 40,
                    bytes: &[sample::KIND_DIR],
                }],
                Init::Zero,
            )
        },
        &[Error::BogusUpdate],
    );
    // A name not used by an earlier run on the same disk.
    let taken = sample::list_dir_via(&mut x, evil).map_or(0, |l| l.len());
    let fresh = format!("fresh{taken}");
    let kid = sample::mkdir_via(&mut x, t, evil, &fresh);
    report(
        &mut ok,
        "write a pointer to uninitialized metadata to disk",
        kid.and_then(|_| x.writeback(evil, 1).map(drop)),
        &[Error::Tainted],
    );
    // Pages for XN's cache must be ours and unmapped.
    let mapped = libos::vm::map_fresh(0x5000_0000_0000, true).unwrap_or(0);
    report(
        &mut ok,
        "hand XN a page that is not ours",
        x.read_and_insert_into(root, &[1]).map(drop),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "hand XN a page we still map",
        x.read_and_insert_into(root, &[mapped]).map(drop),
        &[Error::InUse],
    );
    // One call's work is bounded (interrupts are off while it runs).
    report(
        &mut ok,
        "read 257 blocks into the kernel's cache in one call",
        x.read_and_insert(root, exo_abi::xn::MAX_READ_BLOCKS + 1)
            .map(drop),
        &[Error::BadRange],
    );
    report(
        &mut ok,
        "allocate 4097 blocks in one call",
        x.alloc(
            ino,
            Update {
                own_id: 0,
                db: data,
                nblocks: exo_abi::xn::MAX_EXTENT_BLOCKS + 1,
                ty: TypeId::DB,
            },
            &[],
            Init::Zero,
        ),
        &[Error::BadRange],
    );
    report(
        &mut ok,
        "remove the owner's root from the catalogue",
        x.uninstall_mount("home"),
        &[Error::AccessDenied],
    );
    report(
        &mut ok,
        "take free blocks off the free map without a parent",
        {
            let db = x.find_free(evil, 1).unwrap_or(0);
            x.db_alloc(db, 1)
        },
        &[Error::AccessDenied],
    );
    // What it may do: remove an empty root of its own.
    // Mapped while cached, unmapped when it leaves the cache.
    let gone = format!("gone{taken}");
    let made = sample::make_root_via(&mut x, t, &gone, true);
    let gone_va = made.as_ref().map_or(0, |&db| Sys::window_va(db));
    let mapped = made.as_ref().is_ok_and(|&db| x.map_block(db).is_some());
    let removed = made
        .and_then(|_| x.uninstall_mount(&gone))
        .map(|_| x.lookup(&gone).err() == Some(Error::NoSuchName));
    ok &= removed == Ok(true);
    println!("xn_check: its own empty root uninstalled: {removed:?}");
    let unmapped = libos::info::pte(gone_va) & exo_abi::layout::pte::PRESENT == 0;
    ok &= mapped && unmapped;
    println!(
        "xn_check: its root, mapped while cached, unmapped once evicted: {}",
        if mapped && unmapped { "yes" } else { "NO" }
    );
    let raw = sys::blk_read(0, &mut page[..512], 0);
    let good = raw.is_err();
    ok &= good;
    println!(
        "xn_check: attack: raw disk read around XN: {}",
        match raw {
            Ok(()) => "ALLOWED WRONG".into(),
            Err(e) => format!("refused ({e:?})"),
        }
    );
    let _ = sample::sync_via(&mut x);
    let _ = x.writeback(evil, 1);
    // Its own root it may lock and let go; it ends holding the lock, which
    // the owner sees let go.
    let locks = x
        .lock(evil)
        .and_then(|()| x.unlock(evil))
        .and_then(|()| x.lock(evil));
    ok &= locks.is_ok();
    println!("xn_check: locks its own root: {locks:?}");
    let _: Types = t;
    println!(
        "xn_check: attacks {}",
        if ok { "all refused" } else { "FAILED" }
    );
    (!ok) as u8
}
