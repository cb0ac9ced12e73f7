//! Crash consistency: a workload with fsyncs on an XN over a MemDisk is cut
//! (every disk write after the cut fails and is lost) at many points; after
//! reconstruction and remounting, every file fsynced (and not changed since)
//! must read back exactly, and the whole tree must be consistent.

use super::*;
use crate::fs::cffs::{Cffs, Kind};
use crate::fs::FsError;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use exo_xn::recovery::reconstruct;
use exo_xn::BLOCK_SIZE;

/// What must survive: path → contents as of its last fsync.
type Durable = BTreeMap<String, Vec<u8>>;

/// Runs the workload until it ends or the disk "crashes" (an XN disk error).
/// Returns the files that must have survived.
fn workload<X: XnCalls>(fs: &mut Cffs<X>, seed: u64) -> Durable {
    let mut rng = Rng(seed);
    let mut live: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut durable = Durable::new();
    let dirs = ["/", "/d1/", "/d2/"];
    let crashed = |r: &Result<(), FsError>| matches!(r, Err(FsError::Xn(exo_xn::Error::Disk(_))));
    for (i, d) in ["/d1", "/d2"].iter().enumerate() {
        let r = fs.mkdir(d).map(drop);
        if crashed(&r) {
            return durable;
        }
        r.unwrap_or_else(|e| panic!("mkdir {i}: {e}"));
    }
    for step in 0..70u32 {
        let pick = |rng: &mut Rng, live: &BTreeMap<String, Vec<u8>>| {
            let n = live.len() as u64;
            live.keys().nth(rng.below(n) as usize).cloned()
        };
        let op = rng.below(12);
        let r: Result<(), FsError> = match op {
            // Create a file of 0..12 blocks (past the direct ones sometimes).
            0..=3 => {
                let dir = dirs[rng.below(3) as usize];
                let path = format!("{dir}f{step}");
                let len = rng.below(12 * BLOCK_SIZE as u64) as usize;
                let body = data(len, step as u8);
                let r = fs.write_file(&path, &body).map(drop);
                live.insert(path.clone(), body);
                durable.remove(&path);
                r
            }
            // Overwrite part of a file.
            4 | 5 => match pick(&mut rng, &live) {
                Some(p) => {
                    let body = live.get_mut(&p).unwrap();
                    let off = rng.below(body.len() as u64 + 1) as usize;
                    let patch = data(rng.below(2 * BLOCK_SIZE as u64) as usize, 0x5a);
                    let end = off + patch.len();
                    if body.len() < end {
                        body.resize(end, 0);
                    }
                    body[off..end].copy_from_slice(&patch);
                    durable.remove(&p);
                    fs.open(&p)
                        .and_then(|h| fs.write(&h, off as u64, &patch))
                        .map(drop)
                }
                None => Ok(()),
            },
            // fsync a file: from here on it must survive as it is now.
            6..=8 => match pick(&mut rng, &live) {
                Some(p) => {
                    let r = fs.open(&p).and_then(|h| fs.fsync(&h));
                    if r.is_ok() {
                        durable.insert(p.clone(), live[&p].clone());
                    }
                    r
                }
                None => Ok(()),
            },
            9 => match pick(&mut rng, &live) {
                Some(p) => {
                    live.remove(&p);
                    durable.remove(&p);
                    fs.unlink(&p)
                }
                None => Ok(()),
            },
            // Rename, within or across directories.
            10 => match pick(&mut rng, &live) {
                Some(p) => {
                    let to = format!("{}r{step}", dirs[rng.below(3) as usize]);
                    let body = live.remove(&p).unwrap();
                    durable.remove(&p);
                    live.insert(to.clone(), body);
                    fs.rename(&p, &to)
                }
                None => Ok(()),
            },
            _ => fs.sync(),
        };
        if crashed(&r) {
            return durable;
        }
        r.unwrap_or_else(|e| panic!("step {step} op {op}: {e}"));
    }
    let r = fs.sync();
    if !crashed(&r) {
        r.unwrap();
    }
    durable
}

/// Walk the whole tree reading every file: nothing may fail.
fn walk<X: XnCalls>(fs: &mut Cffs<X>, dir: &str, files: &mut BTreeMap<String, Vec<u8>>) {
    for e in fs.readdir(dir).unwrap() {
        let p = format!("{}{}", dir, e.name);
        match e.kind {
            Kind::Dir => walk(fs, &format!("{p}/"), files),
            Kind::File => {
                let body = fs.read_file(&p).unwrap();
                assert_eq!(body.len() as u64, e.size, "{p}");
                files.insert(p, body);
            }
        }
    }
}

fn fresh_disk() -> MemDisk {
    let mut disk = MemDisk::new(1024);
    {
        let mut xn = Xn::format(&mut disk, VecPageStore::new()).unwrap();
        let mut fs = Cffs::mkfs(
            Direct {
                xn: &mut xn,
                cred: ALICE,
            },
            "alice",
        )
        .unwrap();
        fs.sync().unwrap();
        drop(fs);
        xn.shutdown().unwrap();
    }
    disk
}

#[test]
fn crash_at_many_points_loses_nothing_fsynced() {
    const SEED: u64 = 0xc0ffee;
    // A full run, to learn how many disk writes the workload makes.
    let mut disk = fresh_disk();
    let base = disk.writes;
    {
        let mut xn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
        let mut fs = Cffs::mount(
            Direct {
                xn: &mut xn,
                cred: ALICE,
            },
            "alice",
        )
        .unwrap();
        workload(&mut fs, SEED);
        xn.shutdown().unwrap();
    }
    let total = disk.writes - base;
    assert!(total > 100, "workload too small: {total} writes");
    let (mut cuts, mut checked) = (0, 0);
    let stride = (total / 90).max(1);
    for cut in (1..total).step_by(stride as usize) {
        let mut disk = fresh_disk();
        // Opening writes the superblock once: the cut counts it, as above.
        disk.fail_after(Some(cut));
        let durable = {
            let mut xn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
            let mut fs = Cffs::mount(
                Direct {
                    xn: &mut xn,
                    cred: ALICE,
                },
                "alice",
            )
            .unwrap();
            workload(&mut fs, SEED)
            // Power cut: the registry, cache, will-free list and free map vanish.
        };
        cuts += 1;
        disk.fail_after(None);
        let rep = reconstruct(&mut disk, true).unwrap();
        assert!(rep.violations.is_empty(), "cut {cut}: {:?}", rep.violations);
        assert!(rep.tainted_roots.is_empty(), "cut {cut}");
        let mut xn = Xn::open(&mut disk, VecPageStore::new()).unwrap();
        let mut fs = Cffs::mount(
            Direct {
                xn: &mut xn,
                cred: ALICE,
            },
            "alice",
        )
        .unwrap();
        let mut files = BTreeMap::new();
        walk(&mut fs, "/", &mut files);
        for (p, body) in &durable {
            assert_eq!(
                files.get(p),
                Some(body),
                "cut {cut}: fsynced {p} lost or damaged"
            );
            checked += 1;
        }
        // The recovered tree is usable.
        fs.write_file("/after", b"still works").unwrap();
        fs.sync().unwrap();
        assert_eq!(fs.read_file("/after").unwrap(), b"still works");
        drop(fs);
        xn.shutdown().unwrap();
    }
    assert!(
        cuts > 50 && checked > 100,
        "{cuts} cuts, {checked} files checked"
    );
}
