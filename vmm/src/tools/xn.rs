//! `exo xn mkfs|fsck|ls|cat IMAGE`: offline tools for XN disk images, built on the same
//! `exo-xn` engine the kernel links. The image is a plain file of 4 KiB blocks (what
//! virtio-blk serves the guest). `mkfs` lays out XN and installs the built-in sample
//! file system types; `ls` and `cat` read that sample layout; `fsck` runs XN's
//! reconstruction (free map from the roots, reference counts) and reports violations.

use crate::size::parse_size;
use clap::{Args, Subcommand};
use exo_xn::recovery::{self, Violation};
use exo_xn::{
    catalogue, sample, Block, Cred, Db, Disk, DiskError, Error, TypeId, Update, VecPageStore, Xn,
    BLOCK_SIZE,
};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Exit status for a failure of the tool itself (bad image, I/O error, bad arguments).
const EXIT_ERROR: i32 = 125;
/// Exit status when fsck found violations.
const EXIT_VIOLATIONS: i32 = 1;
/// The capability `mkfs` installs the sample types and root with (offline tools act as
/// the disk's administrator).
const ADMIN: Cred = Cred { env: 0, cap: 0 };

/// The credential guest programs use the file system with (the library
/// OS's shared capability), which owns the cffs trees `mkfs` makes, so
/// that programs may change them as they do a tree they made themselves.
fn guest_cred() -> Cred {
    let shared = exo_abi::cap::Cap::ROOT
        .derive(libos::layout::SHARED_CAP_EXT, exo_abi::cap::PERM_ALL)
        .expect("a one-byte extension of the root capability");
    Cred {
        env: 0,
        cap: shared.xn_value(),
    }
}

#[derive(Args, Debug)]
pub struct XnArgs {
    #[command(subcommand)]
    pub command: XnCommand,
}

/// The library file systems `mkfs` can lay out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FsKind {
    Cffs,
    Sample,
}

#[derive(Subcommand, Debug)]
pub enum XnCommand {
    /// Format IMAGE as an XN disk with one file system root (the guests'
    /// C-FFS-style library file system, or the sample one).
    Mkfs {
        image: PathBuf,
        /// Which library file system: cffs (what guest programs use) or sample.
        #[arg(long, value_enum, default_value_t = FsKind::Sample)]
        fs: FsKind,
        /// Image size, e.g. 64M (default: the existing file's size).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        size: Option<u64>,
        /// Name of the root directory in the root catalogue.
        #[arg(long, default_value = "root")]
        root: String,
        /// Copy these host files into the root directory.
        #[arg(long, value_name = "FILE")]
        add: Vec<PathBuf>,
        /// Overwrite an existing XN image.
        #[arg(long)]
        force: bool,
    },
    /// Reconstruct the free map from the roots and check reference counts.
    Fsck {
        image: PathBuf,
        /// Write the rebuilt free map, taint bad roots, and mark the image clean.
        #[arg(long)]
        repair: bool,
    },
    /// List the root catalogue, or a directory (ROOT/dir/...) of a file system root.
    Ls {
        image: PathBuf,
        path: Option<String>,
    },
    /// Print a file (ROOT/dir/.../file) of a file system root.
    Cat { image: PathBuf, path: String },
}

/// Run an `exo xn` subcommand; returns the process exit status.
pub fn main(args: XnArgs) -> i32 {
    let r = match args.command {
        XnCommand::Mkfs {
            image,
            fs,
            size,
            root,
            add,
            force,
        } => removing_on_failure(&image, || mkfs(&image, fs, size, &root, &add, force)),
        XnCommand::Fsck { image, repair } => fsck(&image, repair),
        XnCommand::Ls { image, path } => ls(&image, path.as_deref()),
        XnCommand::Cat { image, path } => cat(&image, &path),
    };
    match r {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("exo xn: {msg}");
            EXIT_ERROR
        }
    }
}

/// An image file as an XN disk.
pub struct FileDisk {
    file: File,
    nblocks: u64,
}

impl FileDisk {
    pub fn open(path: &Path, writable: bool) -> Result<FileDisk, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        Ok(FileDisk {
            file,
            nblocks: len / BLOCK_SIZE as u64,
        })
    }
}

impl Disk for FileDisk {
    fn nblocks(&self) -> u64 {
        self.nblocks
    }
    fn read(&mut self, db: Db, buf: &mut Block) -> Result<(), DiskError> {
        if db >= self.nblocks {
            return Err(DiskError::OutOfRange(db));
        }
        self.file
            .read_exact_at(buf, db * BLOCK_SIZE as u64)
            .map_err(|_| DiskError::Io)
    }
    fn write(&mut self, db: Db, buf: &Block) -> Result<(), DiskError> {
        if db >= self.nblocks {
            return Err(DiskError::OutOfRange(db));
        }
        self.file
            .write_all_at(buf, db * BLOCK_SIZE as u64)
            .map_err(|_| DiskError::Io)
    }
    fn flush(&mut self) -> Result<(), DiskError> {
        self.file.sync_data().map_err(|_| DiskError::Io)
    }
}

fn xerr(image: &Path, e: Error) -> String {
    format!("{}: {e}", image.display())
}

/// The largest image `mkfs` makes, and so the largest file it adds.
const MAX_IMAGE: u64 = 1 << 40;
pub(super) const MAX_ADDED_FILE: u64 = MAX_IMAGE;

/// Runs `make` (which makes `image`), removing the image again if it did
/// not exist before and `make` failed: no partial image is left behind.
fn removing_on_failure(
    image: &Path,
    make: impl FnOnce() -> Result<i32, String>,
) -> Result<i32, String> {
    let created = !image.exists();
    let r = make();
    if r.is_err() && created {
        let _ = std::fs::remove_file(image);
    }
    r
}

fn mkfs(
    image: &Path,
    fs: FsKind,
    size: Option<u64>,
    root: &str,
    add: &[PathBuf],
    force: bool,
) -> Result<i32, String> {
    if let Some(s) = size.filter(|s| *s > MAX_IMAGE) {
        return Err(format!(
            "--size {s}: larger than the {} GiB an image may be",
            MAX_IMAGE >> 30
        ));
    }
    if !catalogue::valid_name(root) {
        return Err(format!(
            "--root '{root}': a name of 1 to {} bytes is needed",
            catalogue::NAME_LEN
        ));
    }
    if image.exists() && !force {
        let mut d = FileDisk::open(image, false)?;
        let mut b = [0u8; BLOCK_SIZE];
        if d.nblocks() > 0 && d.read(0, &mut b).is_ok() && &b[..8] == exo_xn::layout::MAGIC {
            return Err(format!(
                "{}: already an XN image (use --force to overwrite)",
                image.display()
            ));
        }
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(image)
        .map_err(|e| format!("{}: {e}", image.display()))?;
    match size {
        Some(s) => file.set_len(s / BLOCK_SIZE as u64 * BLOCK_SIZE as u64),
        None => Ok(()),
    }
    .map_err(|e| format!("{}: {e}", image.display()))?;
    drop(file);
    let disk = FileDisk::open(image, true)?;
    if disk.nblocks() < exo_xn::layout::MIN_BLOCKS {
        return Err(format!(
            "{}: too small for XN (give --size, at least 64K)",
            image.display()
        ));
    }
    let mut xn = Xn::format(disk, VecPageStore::new()).map_err(|e| xerr(image, e))?;
    if fs == FsKind::Cffs {
        super::xn_cffs::mkfs(&mut xn, guest_cred(), root, add)?;
        xn.shutdown().map_err(|e| xerr(image, e))?;
        println!(
            "{}: XN disk of {} blocks with a cffs tree '{root}' ({} files)",
            image.display(),
            xn.info().nblocks,
            add.len()
        );
        return Ok(0);
    }
    let t = sample::install_types(&mut xn, ADMIN).map_err(|e| xerr(image, e))?;
    let dir = sample::make_root(&mut xn, ADMIN, t, root, false).map_err(|e| xerr(image, e))?;
    for f in add {
        // No file can be larger than the image it goes into.
        let data = super::bounded::read(f, super::xn::MAX_ADDED_FILE, "file to add")?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: no usable file name", f.display()))?;
        sample::create(&mut xn, ADMIN, t, dir, name, &data, sample::MODE_PUBLIC)
            .map_err(|e| format!("adding {}: {e}", f.display()))?;
    }
    sample::sync(&mut xn, ADMIN).map_err(|e| xerr(image, e))?;
    xn.shutdown().map_err(|e| xerr(image, e))?;
    let sb = *xn.info();
    println!(
        "{}: XN disk of {} blocks ({} KiB); free map at {}, catalogue at {}, data from {}; root '{root}' at block {dir}",
        image.display(),
        sb.nblocks,
        sb.nblocks * 4,
        sb.freemap_start,
        sb.cat_start,
        sb.data_start
    );
    Ok(0)
}

fn fsck(image: &Path, repair: bool) -> Result<i32, String> {
    let mut disk = FileDisk::open(image, repair)?;
    let rep = recovery::reconstruct(&mut disk, repair).map_err(|e| xerr(image, e))?;
    println!(
        "{}: {} ({} blocks reachable, {} allocated, {} to reclaim, {} allocated since the last clean shutdown)",
        image.display(),
        if rep.was_clean { "clean" } else { "not cleanly shut down" },
        rep.reachable,
        rep.freemap.allocated_count(),
        rep.reclaimed,
        rep.recovered
    );
    for v in &rep.violations {
        println!("violation: {}", describe(v));
    }
    for r in &rep.tainted_roots {
        println!(
            "root '{r}' {} tainted",
            if repair { "marked" } else { "would be marked" }
        );
    }
    if repair {
        println!("free map rebuilt; image marked clean");
    }
    Ok(if rep.violations.is_empty() {
        0
    } else {
        EXIT_VIOLATIONS
    })
}

fn describe(v: &Violation) -> String {
    match v {
        Violation::BadTemplate { name } => format!("type '{name}': template does not verify"),
        Violation::ExtentOverlap { name, block } => {
            format!("catalogue entry '{name}': block {block} used twice")
        }
        Violation::OwnsFault { block } => format!("block {block}: owns-udf faults"),
        Violation::BadPointer { from, to } => {
            format!("block {from} points outside the data area ({to})")
        }
        Violation::UnknownType { from, to, ty } => {
            format!("block {from} points to {to} with unknown type {ty}")
        }
        Violation::DoubleOwner { block, from } => format!("block {block} claimed again by {from}"),
        Violation::RefcntMismatch {
            block,
            stored,
            counted,
        } => {
            format!("block {block}: reference count {stored}, but {counted} pointers")
        }
        Violation::RefcntFault { block } => format!("block {block}: refcnt-udf faults"),
    }
}

type RoXn = Xn<FileDisk, VecPageStore>;

fn open_ro(image: &Path) -> Result<RoXn, String> {
    let disk = FileDisk::open(image, false)?;
    Xn::open_read_only(disk, VecPageStore::new()).map_err(|e| xerr(image, e))
}

/// Resolve ROOT/a/b in the sample layout: (types, directory entry kind, block).
fn resolve(xn: &mut RoXn, image: &Path, path: &str) -> Result<(sample::Types, u8, Db), String> {
    let t = sample::find_types(xn).ok_or_else(|| {
        format!(
            "{}: the sample file system types are not installed",
            image.display()
        )
    })?;
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let root = parts.next().ok_or("an empty path")?;
    match xn.catalogue().find(root) {
        Some((_, e)) if e.kind == catalogue::Kind::Root(t.dir) => {}
        Some(_) => return Err(format!("'{root}' is not a sample directory root")),
        None => return Err(format!("no root '{root}' in the catalogue")),
    }
    let mut cur = sample::mount_root(xn, root).map_err(|e| xerr(image, e))?;
    let mut kind = sample::KIND_DIR;
    for p in parts {
        if kind != sample::KIND_DIR {
            return Err(format!("{path}: not a directory"));
        }
        let ents = sample::list_dir(xn, cur).map_err(|e| xerr(image, e))?;
        let e = ents
            .into_iter()
            .find(|e| e.name == p)
            .ok_or_else(|| format!("{path}: no such file or directory"))?;
        let ty = if e.kind == sample::KIND_DIR {
            t.dir
        } else {
            t.inode
        };
        sample::load(
            xn,
            cur,
            Update {
                own_id: e.slot,
                db: e.db,
                nblocks: 1,
                ty,
            },
        )
        .map_err(|e| xerr(image, e))?;
        cur = e.db;
        kind = e.kind;
    }
    Ok((t, kind, cur))
}

fn ls(image: &Path, path: Option<&str>) -> Result<i32, String> {
    let mut xn = open_ro(image)?;
    let Some(path) = path else {
        let sb = *xn.info();
        println!(
            "{} blocks, {} allocated{}",
            sb.nblocks,
            xn.freemap().allocated_count(),
            if sb.clean {
                ""
            } else {
                " (not cleanly shut down: run fsck)"
            }
        );
        for (slot, e) in xn.catalogue().iter() {
            let what = match e.kind {
                catalogue::Kind::Extent => "extent".to_string(),
                catalogue::Kind::Type => format!("type {}", TypeId::from_slot(slot).0),
                catalogue::Kind::Reserved => format!("reserved type {}", TypeId::from_slot(slot).0),
                catalogue::Kind::Root(ty) => {
                    let tn = xn.template(ty).map_or("?".to_string(), |t| t.name.clone());
                    format!("root of {tn}")
                }
            };
            let taint = if e.tainted { " TAINTED" } else { "" };
            println!(
                "{:<24} {:<28} blocks {}..{}{taint}",
                e.name,
                what,
                e.db,
                e.db + e.nblocks
            );
        }
        return Ok(0);
    };
    let (root, rest) = path
        .trim_matches('/')
        .split_once('/')
        .unwrap_or((path.trim_matches('/'), ""));
    if super::xn_cffs::is_cffs(&xn, root) {
        super::xn_cffs::ls(&mut xn, ADMIN, root, rest)?;
        return Ok(0);
    }
    let (t, kind, db) = resolve(&mut xn, image, path)?;
    if kind != sample::KIND_DIR {
        let size = xn.size_of(db).map_err(|e| xerr(image, e))?;
        println!("- {size:>10} {path}");
        return Ok(0);
    }
    for e in sample::list_dir(&xn, db).map_err(|e| xerr(image, e))? {
        let ty = if e.kind == sample::KIND_DIR {
            t.dir
        } else {
            t.inode
        };
        sample::load(
            &mut xn,
            db,
            Update {
                own_id: e.slot,
                db: e.db,
                nblocks: 1,
                ty,
            },
        )
        .map_err(|e| xerr(image, e))?;
        let size = xn.size_of(e.db).map_err(|e| xerr(image, e))?;
        let k = if e.kind == sample::KIND_DIR { 'd' } else { '-' };
        println!("{k} {size:>10} {:>8} {}", e.db, e.name);
    }
    Ok(0)
}

fn cat(image: &Path, path: &str) -> Result<i32, String> {
    cat_to(image, path, &mut std::io::stdout())
}

/// `cat` into `out` (standard output for users, a buffer in tests).
fn cat_to(image: &Path, path: &str, out: &mut impl std::io::Write) -> Result<i32, String> {
    let mut xn = open_ro(image)?;
    let (root, rest) = path
        .trim_matches('/')
        .split_once('/')
        .unwrap_or((path.trim_matches('/'), ""));
    let data = if super::xn_cffs::is_cffs(&xn, root) {
        super::xn_cffs::cat(&mut xn, ADMIN, root, rest)?
    } else {
        let (t, kind, db) = resolve(&mut xn, image, path)?;
        if kind == sample::KIND_DIR {
            return Err(format!("{path}: is a directory"));
        }
        sample::read_file(&mut xn, t, db).map_err(|e| xerr(image, e))?
    };
    out.write_all(&data).map_err(|e| format!("stdout: {e}"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn tmp(name: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("exo-xn-{}-{n}-{name}", std::process::id()))
    }

    #[test]
    fn failed_mkfs_leaves_nothing_and_huge_sizes_are_refused() {
        let img = tmp("failed");
        let go = |size: u64| {
            removing_on_failure(&img, || {
                mkfs(&img, FsKind::Sample, Some(size), "root", &[], false)
            })
        };
        assert!(go(u64::MAX)
            .unwrap_err()
            .contains("larger than the 1024 GiB"));
        assert!(go(4096).unwrap_err().contains("too small for XN"));
        assert!(!img.exists(), "a failed mkfs left {}", img.display());
        // An image that was there before a failure stays.
        std::fs::write(&img, b"mine").unwrap();
        assert!(go(4096).is_err());
        assert!(img.exists());
        let _ = std::fs::remove_file(&img);
    }

    #[test]
    fn mkfs_ls_cat_fsck_roundtrip() {
        let img = tmp("img");
        let src = tmp("hello.txt");
        let body: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &body).unwrap();
        assert_eq!(
            mkfs(
                &img,
                FsKind::Sample,
                Some(4 << 20),
                "root",
                std::slice::from_ref(&src),
                false
            ),
            Ok(0)
        );
        assert!(
            mkfs(&img, FsKind::Sample, Some(4 << 20), "root", &[], false)
                .unwrap_err()
                .contains("already an XN image")
        );
        assert_eq!(ls(&img, None), Ok(0));
        let name = src.file_name().unwrap().to_str().unwrap();
        assert_eq!(ls(&img, Some("root")), Ok(0));
        assert_eq!(ls(&img, Some(&format!("root/{name}"))), Ok(0));
        let mut xn = open_ro(&img).unwrap();
        let (t, _, db) = resolve(&mut xn, &img, &format!("root/{name}")).unwrap();
        assert_eq!(sample::read_file(&mut xn, t, db).unwrap(), body);
        assert!(resolve(&mut xn, &img, "root/nope")
            .unwrap_err()
            .contains("no such file"));
        assert!(resolve(&mut xn, &img, "other")
            .unwrap_err()
            .contains("no root"));
        drop(xn);
        let mut shown = Vec::new();
        assert_eq!(cat_to(&img, &format!("root/{name}"), &mut shown), Ok(0));
        assert_eq!(shown, body);
        assert!(cat_to(&img, "root", &mut Vec::new())
            .unwrap_err()
            .contains("is a directory"));
        assert_eq!(fsck(&img, false), Ok(0));
        // Corrupt a reference count on disk: fsck reports it, repair taints the root.
        let ino = db;
        let f = OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&[7], ino * BLOCK_SIZE as u64 + 8).unwrap();
        drop(f);
        assert_eq!(fsck(&img, false), Ok(EXIT_VIOLATIONS));
        assert_eq!(fsck(&img, true), Ok(EXIT_VIOLATIONS));
        let xn = open_ro(&img).unwrap();
        assert!(xn.catalogue().find("root").unwrap().1.tainted);
        std::fs::remove_file(&img).ok();
        std::fs::remove_file(&src).ok();
    }

    #[test]
    fn bad_images_are_clear_errors() {
        let img = tmp("bad");
        std::fs::write(&img, vec![0u8; 64 * BLOCK_SIZE]).unwrap();
        for r in [ls(&img, None), fsck(&img, false), cat(&img, "root/x")] {
            assert!(r.unwrap_err().contains("wrong magic"));
        }
        assert!(ls(&tmp("missing"), None)
            .unwrap_err()
            .contains("No such file"));
        // A real image, truncated.
        assert_eq!(
            mkfs(&img, FsKind::Sample, Some(1 << 20), "root", &[], true),
            Ok(0)
        );
        let f = OpenOptions::new().write(true).open(&img).unwrap();
        f.set_len(10 * BLOCK_SIZE as u64).unwrap();
        drop(f);
        assert!(ls(&img, None).unwrap_err().contains("truncated"));
        assert!(fsck(&img, false).unwrap_err().contains("truncated"));
        // Corrupted catalogue.
        assert_eq!(
            mkfs(&img, FsKind::Sample, Some(1 << 20), "root", &[], true),
            Ok(0)
        );
        let sb = exo_xn::layout::Superblock::for_disk(256).unwrap();
        let f = OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&[0x5a; 16], sb.cat_start * BLOCK_SIZE as u64 + 4)
            .unwrap();
        drop(f);
        assert!(ls(&img, None).unwrap_err().contains("catalogue"));
        assert!(cat(&img, "root/x").unwrap_err().contains("catalogue"));
        // Too small to format.
        assert!(mkfs(
            &img,
            FsKind::Sample,
            Some(8 * BLOCK_SIZE as u64),
            "root",
            &[],
            true
        )
        .unwrap_err()
        .contains("too small"));
        assert!(mkfs(&img, FsKind::Sample, Some(1 << 20), "", &[], true).is_err());
        std::fs::remove_file(&img).ok();
    }
}
