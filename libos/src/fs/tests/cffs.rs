//! C-FFS semantics: every operation, large files, big directories,
//! co-location, persistence across shutdown and reconstruction.

use super::*;
use crate::fs::cffs::layout::{DIRECT, ENTRIES, MAX_FILE, NAME_MAX, PTRS_PER_IND};
use crate::fs::cffs::{Cffs, Kind};
use crate::fs::FsError;
use alloc::format;
use alloc::string::String;
use exo_xn::recovery::reconstruct;
use exo_xn::BLOCK_SIZE;

fn fs(nblocks: u64) -> Cffs<Shared> {
    Cffs::mkfs(Shared::new(fresh(nblocks), ALICE), "alice").unwrap()
}

fn names(fs: &mut Cffs<Shared>, p: &str) -> Vec<String> {
    fs.readdir(p).unwrap().into_iter().map(|e| e.name).collect()
}

/// Sync, shut down, reconstruct (must find nothing wrong), reopen, remount.
fn remount(mut fs: Cffs<Shared>) -> Cffs<Shared> {
    fs.sync().unwrap();
    let sh = fs.into_inner();
    let xn = Rc::try_unwrap(sh.xn).ok().unwrap().into_inner();
    let mut xn = xn;
    xn.shutdown().unwrap();
    let (mut disk, _) = xn.into_parts();
    let rep = reconstruct(&mut disk, false).unwrap();
    assert!(rep.violations.is_empty(), "{:?}", rep.violations);
    let xn = Xn::open(disk, VecPageStore::new()).unwrap();
    Cffs::mount(Shared::new(xn, ALICE), "alice").unwrap()
}

#[test]
fn create_write_read_stat() {
    let mut fs = fs(512);
    let h = fs.create("/hello").unwrap();
    assert_eq!(fs.write(&h, 0, b"hello, xn").unwrap(), 9);
    let mut buf = [0u8; 32];
    assert_eq!(fs.read(&h, 0, &mut buf).unwrap(), 9);
    assert_eq!(&buf[..9], b"hello, xn");
    assert_eq!(fs.read(&h, 7, &mut buf).unwrap(), 2);
    assert_eq!(fs.read(&h, 9, &mut buf).unwrap(), 0);
    // Overwrite in the middle, then extend past a hole.
    fs.write(&h, 7, b"XN").unwrap();
    fs.write(&h, 3 * BLOCK_SIZE as u64, b"tail").unwrap();
    let st = fs.stat("/hello").unwrap();
    assert_eq!((st.kind, st.size), (Kind::File, 3 * BLOCK_SIZE as u64 + 4));
    let all = fs.read_file("/hello").unwrap();
    assert_eq!(&all[..9], b"hello, XN");
    assert!(
        all[9..3 * BLOCK_SIZE].iter().all(|&b| b == 0),
        "hole reads zeros"
    );
    assert_eq!(&all[3 * BLOCK_SIZE..], b"tail");
    // The hole has no blocks.
    assert_eq!(fs.blocks("/hello").unwrap().len(), 2);
    assert_eq!(fs.create("/hello"), Err(FsError::Exists));
    assert_eq!(fs.open("/nope"), Err(FsError::NotFound));
    assert_eq!(fs.stat("/").unwrap().kind, Kind::Dir);
    assert_eq!(fs.fstat(&h).unwrap().size, st.size);
}

#[test]
fn truncate_shrinks_and_zero_fills() {
    let mut fs = fs(512);
    let body = data(5 * BLOCK_SIZE + 10, 3);
    let h = fs.write_file("/f", &body).unwrap();
    fs.truncate(&h, 100).unwrap();
    assert_eq!(fs.read_file("/f").unwrap(), &body[..100]);
    assert_eq!(fs.blocks("/f").unwrap().len(), 1);
    fs.truncate(&h, 200).unwrap();
    let r = fs.read_file("/f").unwrap();
    assert_eq!(&r[..100], &body[..100]);
    assert!(r[100..].iter().all(|&b| b == 0));
    fs.truncate(&h, 0).unwrap();
    assert_eq!(fs.blocks("/f").unwrap().len(), 0);
    assert_eq!(fs.read_file("/f").unwrap(), b"");
}

#[test]
fn files_larger_than_the_direct_blocks() {
    let mut fs = fs(2048);
    let big = data((DIRECT + 40) * BLOCK_SIZE + 77, 9);
    fs.write_file("/big", &big).unwrap();
    assert_eq!(fs.read_file("/big").unwrap(), big);
    // Random-offset reads across the direct/indirect boundary.
    let h = fs.open("/big").unwrap();
    let mut buf = vec![0u8; 3 * BLOCK_SIZE];
    let off = (DIRECT as u64 - 1) * BLOCK_SIZE as u64 + 123;
    assert_eq!(fs.read(&h, off, &mut buf).unwrap(), buf.len());
    assert_eq!(&buf[..], &big[off as usize..off as usize + buf.len()]);
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/big").unwrap(), big);
    // Shrinking below the direct blocks frees the indirect block too.
    let h = fs.open("/big").unwrap();
    fs.truncate(&h, 10).unwrap();
    assert_eq!(fs.blocks("/big").unwrap().len(), 1);
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/big").unwrap(), &big[..10]);
    // The layout's limit is reported, not overrun.
    let h = fs.open("/big").unwrap();
    assert_eq!(fs.write(&h, MAX_FILE, b"x"), Err(FsError::TooBig));
    assert_eq!(fs.write(&h, u64::MAX - 1, b"xy"), Err(FsError::TooBig));
}

/// A file past what one indirect block maps goes through the
/// double-indirect block: written, read back after a remount, shrunk across
/// indirect blocks (freeing those left empty) and unlinked, its blocks
/// reusable after.
#[test]
fn files_past_one_indirect_block() {
    let mut fs = fs(4096);
    let blocks = DIRECT + 2 * PTRS_PER_IND + 10;
    let big: Vec<u8> = (0..blocks * BLOCK_SIZE)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let h = fs.create("/huge").unwrap();
    assert_eq!(fs.write(&h, 0, &big).unwrap(), big.len());
    // Data, three indirect blocks under the double-indirect one.
    assert_eq!(fs.blocks("/huge").unwrap().len(), blocks);
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/huge").unwrap(), big);
    let h = fs.open("/huge").unwrap();
    let keep = (DIRECT + PTRS_PER_IND + 3) * BLOCK_SIZE;
    fs.truncate(&h, keep as u64).unwrap();
    assert_eq!(fs.blocks("/huge").unwrap().len(), DIRECT + PTRS_PER_IND + 3);
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/huge").unwrap(), &big[..keep]);
    fs.unlink("/huge").unwrap();
    let mut fs = remount(fs);
    // The space came back: the same file fits again.
    let h = fs.create("/again").unwrap();
    assert_eq!(fs.write(&h, 0, &big).unwrap(), big.len());
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/again").unwrap(), big);
}

#[test]
fn many_files_in_a_directory() {
    let mut fs = fs(2048);
    fs.mkdir("/many").unwrap();
    // More than the direct content blocks hold: the directory's indirect block.
    let n = ENTRIES as usize * DIRECT + 40;
    for i in 0..n {
        let h = fs.create(&format!("/many/file{i}")).unwrap();
        fs.write(&h, 0, format!("body {i}").as_bytes()).unwrap();
    }
    let st = fs.stat("/many").unwrap();
    assert!(st.size > (DIRECT * BLOCK_SIZE) as u64, "{st:?}");
    let mut fs = remount(fs);
    let mut got = names(&mut fs, "/many");
    got.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("file{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(fs.read_file("/many/file250").unwrap(), b"body 250");
    assert_eq!(fs.rmdir("/many"), Err(FsError::NotEmpty));
    for i in 0..n {
        fs.unlink(&format!("/many/file{i}")).unwrap();
    }
    assert!(fs.readdir("/many").unwrap().is_empty());
    fs.rmdir("/many").unwrap();
    assert_eq!(names(&mut fs, "/"), Vec::<String>::new());
    let _ = remount(fs);
}

#[test]
fn directories_and_errors() {
    let mut fs = fs(512);
    fs.mkdir("/a").unwrap();
    fs.mkdir("/a/b").unwrap();
    fs.write_file("/a/b/f", b"deep").unwrap();
    fs.write_file("/a/g", b"").unwrap();
    assert_eq!(fs.read_file("/a/./b/../b/f").unwrap(), b"deep");
    let ls = fs.readdir("/a").unwrap();
    assert_eq!(ls.len(), 2);
    assert!(ls.iter().any(|e| e.name == "b" && e.kind == Kind::Dir));
    assert!(ls
        .iter()
        .any(|e| e.name == "g" && e.kind == Kind::File && e.size == 0));
    assert_eq!(fs.mkdir("/a"), Err(FsError::Exists));
    assert_eq!(fs.mkdir("/a/g/x"), Err(FsError::NotDir));
    assert_eq!(fs.readdir("/a/g"), Err(FsError::NotDir));
    assert_eq!(fs.read_file("/a/b"), Err(FsError::IsDir));
    assert_eq!(fs.unlink("/a/b"), Err(FsError::IsDir));
    assert_eq!(fs.rmdir("/a/g"), Err(FsError::NotDir));
    assert_eq!(fs.rmdir("/a/b"), Err(FsError::NotEmpty));
    assert_eq!(fs.unlink("/a/zz"), Err(FsError::NotFound));
    assert_eq!(fs.mkdir("/x/y"), Err(FsError::NotFound));
    let long = "n".repeat(NAME_MAX + 1);
    assert_eq!(fs.create(&format!("/{long}")), Err(FsError::NameTooLong));
    fs.create(&format!("/{}", "n".repeat(NAME_MAX))).unwrap();
    assert_eq!(fs.create("/"), Err(FsError::Invalid));
    assert_eq!(fs.mkdir("/a/.."), Err(FsError::Invalid));
    let h = fs.open("/a/b/f").unwrap();
    fs.unlink("/a/b/f").unwrap();
    assert_eq!(fs.read(&h, 0, &mut [0u8; 4]), Err(FsError::StaleHandle));
    // A new file in the freed slot is not reachable through the old handle.
    fs.write_file("/a/b/f2", b"other").unwrap();
    assert_eq!(fs.read(&h, 0, &mut [0u8; 4]), Err(FsError::StaleHandle));
    fs.unlink("/a/b/f2").unwrap();
    fs.rmdir("/a/b").unwrap();
    assert_eq!(fs.stat("/a/b"), Err(FsError::NotFound));
    let _ = remount(fs);
}

#[test]
fn rename_within_and_across_directories() {
    let mut fs = fs(1024);
    fs.mkdir("/src").unwrap();
    fs.mkdir("/dst").unwrap();
    let small = data(300, 1);
    let big = data((DIRECT + 3) * BLOCK_SIZE + 5, 2);
    let h = fs.write_file("/src/a", &small).unwrap();
    fs.write_file("/src/big", &big).unwrap();
    // Within a directory: the inode stays put, so handles stay valid.
    fs.rename("/src/a", "/src/b").unwrap();
    assert_eq!(fs.open("/src/a"), Err(FsError::NotFound));
    assert_eq!(fs.read_file("/src/b").unwrap(), small);
    assert_eq!(fs.fstat(&h).unwrap().size, 300);
    // Replacing an existing file.
    fs.write_file("/src/c", b"old").unwrap();
    fs.rename("/src/b", "/src/c").unwrap();
    assert_eq!(fs.read_file("/src/c").unwrap(), small);
    assert_eq!(names(&mut fs, "/src").len(), 2);
    // Across directories the embedded inode moves: the data is re-homed next
    // to the new directory block and the old handle goes stale.
    fs.rename("/src/c", "/dst/c").unwrap();
    assert_eq!(fs.read(&h, 0, &mut [0u8; 1]), Err(FsError::StaleHandle));
    assert_eq!(fs.read_file("/dst/c").unwrap(), small);
    fs.rename("/src/big", "/dst/big2").unwrap();
    assert_eq!(fs.read_file("/dst/big2").unwrap(), big);
    assert_eq!(names(&mut fs, "/src"), Vec::<String>::new());
    // A whole directory tree moves.
    fs.mkdir("/dst/sub").unwrap();
    fs.write_file("/dst/sub/x", b"xx").unwrap();
    fs.rename("/dst", "/src/moved").unwrap();
    assert_eq!(fs.read_file("/src/moved/sub/x").unwrap(), b"xx");
    assert_eq!(fs.read_file("/src/moved/big2").unwrap(), big);
    assert_eq!(fs.stat("/dst"), Err(FsError::NotFound));
    // Into itself, onto a non-empty directory, mismatched kinds.
    assert_eq!(fs.rename("/src", "/src/moved/in"), Err(FsError::Invalid));
    fs.mkdir("/e").unwrap();
    assert_eq!(fs.rename("/src/moved/c", "/e"), Err(FsError::IsDir));
    assert_eq!(fs.rename("/e", "/src/moved/c"), Err(FsError::NotDir));
    assert_eq!(fs.rename("/e", "/src"), Err(FsError::NotEmpty));
    fs.rename("/src/moved/sub", "/e").unwrap();
    assert_eq!(fs.read_file("/e/x").unwrap(), b"xx");
    assert_eq!(fs.rename("/nope", "/x"), Err(FsError::NotFound));
    let mut fs = remount(fs);
    assert_eq!(fs.read_file("/src/moved/c").unwrap(), small);
    assert_eq!(fs.read_file("/e/x").unwrap(), b"xx");
}

#[test]
fn small_files_are_co_located_with_their_directory() {
    let mut fs = fs(1024);
    fs.mkdir("/d").unwrap();
    for i in 0..5 {
        fs.write_file(&format!("/d/f{i}"), &data(2 * BLOCK_SIZE, i))
            .unwrap();
    }
    let dir_block = fs.stat("/d/f0").unwrap().dir_block;
    let mut blocks: Vec<Db> = Vec::new();
    for i in 0..5 {
        let b = fs.blocks(&format!("/d/f{i}")).unwrap();
        assert_eq!(b[1], b[0] + 1, "a file's blocks are contiguous");
        blocks.extend(b);
    }
    // The directory block and its files' data form one run of the disk.
    blocks.push(dir_block);
    blocks.sort_unstable();
    assert_eq!(blocks.last().unwrap() - blocks[0], blocks.len() as u64 - 1);
    assert_eq!(blocks[0], dir_block);
}

#[test]
fn mkfs_and_mount_errors() {
    let sh = Shared::new(fresh(256), ALICE);
    assert!(matches!(
        Cffs::mount(sh.clone(), "alice"),
        Err(FsError::NotFound)
    ));
    let fs = Cffs::mkfs(sh.clone(), "alice").unwrap();
    let t = fs.types();
    assert!(matches!(
        Cffs::mkfs(sh.clone(), "alice"),
        Err(FsError::Exists)
    ));
    // A second tree reuses the installed types.
    let fs2 = Cffs::mkfs(sh.clone(), "alice2").unwrap();
    assert_eq!(fs2.types(), t);
    assert!(matches!(
        Cffs::mount(sh.clone(), "cffs.dir"),
        Err(FsError::Corrupt(_))
    ));
}
