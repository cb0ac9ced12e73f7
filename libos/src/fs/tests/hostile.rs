//! A corrupted or hostile disk: the libFS reports errors, never panics.

use super::*;
use crate::fs::cffs::layout::{entry_off, OFF_KIND, OFF_NLEN};
use crate::fs::cffs::{Cffs, Kind};
use crate::fs::FsError;
use alloc::format;
use exo_xn::recovery::reconstruct;
use exo_xn::BLOCK_SIZE;

/// A synced image with a small tree: its bytes, allocated blocks, super block.
fn image() -> (Vec<u8>, Vec<Db>, Db) {
    let sh = Shared::new(fresh(256), ALICE);
    let mut fs = Cffs::mkfs(sh.clone(), "alice").unwrap();
    fs.mkdir("/d").unwrap();
    for i in 0..6 {
        fs.write_file(&format!("/d/f{i}"), &data(i * 3000, i as u8))
            .unwrap();
    }
    fs.write_file("/big", &data(12 * BLOCK_SIZE, 1)).unwrap();
    fs.sync().unwrap();
    let sb = fs.super_block();
    drop(fs);
    let mut xn = Rc::try_unwrap(sh.xn).ok().unwrap().into_inner();
    xn.shutdown().unwrap();
    let start = xn.info().data_start;
    let used: Vec<Db> = xn.freemap().allocated().filter(|&b| b >= start).collect();
    let (disk, _) = xn.into_parts();
    (disk.bytes().to_vec(), used, sb)
}

/// Mount and exercise everything; any result but a panic is acceptable.
fn exercise(img: Vec<u8>) -> Result<(), FsError> {
    let mut disk = MemDisk::from_bytes(img);
    let _ = reconstruct(&mut disk, true);
    let xn = Xn::open(disk, VecPageStore::new())?;
    let mut fs = Cffs::mount(Shared::new(xn, ALICE), "alice")?;
    let mut dirs = alloc::vec![alloc::string::String::from("/")];
    while let Some(d) = dirs.pop() {
        for e in fs.readdir(&d)? {
            let p = format!("{d}{}", e.name);
            match e.kind {
                Kind::Dir if dirs.len() < 16 => dirs.push(format!("{p}/")),
                Kind::Dir => {}
                Kind::File => {
                    let _ = fs.read_file(&p);
                    let _ = fs.write_file(&p, b"x");
                    let _ = fs.rename(&p, "/moved");
                }
            }
        }
    }
    let _ = fs.write_file("/d/new", &data(5000, 3));
    let _ = fs.rename("/d", "/e");
    let _ = fs.unlink("/big");
    fs.sync()
}

#[test]
fn corrupted_entries_are_reported() {
    let (mut img, _, sb) = image();
    // The root directory's entry in the super block: a bad kind, then a bad name length.
    let at = sb as usize * BLOCK_SIZE + entry_off(0);
    img[at + OFF_KIND] = 7;
    assert!(matches!(exercise(img.clone()), Err(FsError::Corrupt(_))));
    img[at + OFF_KIND] = 2;
    img[at + OFF_NLEN] = 200;
    assert!(matches!(exercise(img), Err(FsError::Corrupt(_))));
}

#[test]
fn random_damage_never_panics() {
    let (img, used, _) = image();
    let mut rng = Rng(0xbad_d15c);
    for _ in 0..60 {
        let mut m = img.clone();
        for _ in 0..1 + rng.below(6) {
            let b = used[rng.below(used.len() as u64) as usize] as usize;
            // Mostly headers, entries and pointers: where the structure is.
            let off = rng.below(1024) as usize;
            m[b * BLOCK_SIZE + off] = rng.next() as u8;
        }
        let _ = exercise(m);
    }
}
