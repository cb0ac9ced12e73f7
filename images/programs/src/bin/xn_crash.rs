//! A write workload for XN's crash test. `xn_crash write` creates files
//! f0, f1, ... in directories d0, d1, ... (50 each) under a root `crash`,
//! syncing after each and saying so, until killed (or 2000 files). `xn_crash check` (after the kernel has
//! reconstructed the disk at boot) reads every file back, compares it with
//! what was written, and shuts XN down cleanly.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::sample::{self, Types};
use exo_xn::{Error, Update};
use libos::xn::Sys;
use libos::{println, process};

libos::entry!(main);

const ROOT: &str = "crash";
const FILES: u32 = 2000;
const PER_DIR: u32 = 50;

/// The content of file `i`: 500 bytes to about 9.5 KiB (up to 3 blocks).
fn pattern(i: u32) -> Vec<u8> {
    let len = 500 + (i % 7) as usize * 1500;
    (0..len).map(|k| (i as usize * 31 + k * 7) as u8).collect()
}

fn main() -> u8 {
    let mut x = match Sys::new(0) {
        Ok(x) => x,
        Err(e) => {
            println!("xn_crash: no XN: {e}");
            return 2;
        }
    };
    let r = match process::args().nth(1) {
        Some("write") => write(&mut x),
        Some("check") => check(&mut x),
        _ => {
            println!("usage: xn_crash write | check");
            return 2;
        }
    };
    match r {
        Ok(status) => status,
        Err(e) => {
            println!("xn_crash: FAILED: {e}");
            1
        }
    }
}

fn types(x: &mut Sys) -> Result<Types, Error> {
    match sample::find_types_via(x) {
        Some(t) => Ok(t),
        None => sample::install_types_via(x),
    }
}

fn write(x: &mut Sys) -> Result<u8, Error> {
    if x.nblocks().is_err() {
        x.format(false)?;
    }
    let t = types(x)?;
    let root = sample::make_root_via(x, t, ROOT, false)?;
    sample::sync_via(x)?;
    println!("xn_crash: writing");
    let mut dir = root;
    for i in 0..FILES {
        if i % PER_DIR == 0 {
            dir = sample::mkdir_via(x, t, root, &format!("d{}", i / PER_DIR))?;
        }
        sample::create_via(
            x,
            t,
            dir,
            &format!("f{i}"),
            &pattern(i),
            sample::MODE_PUBLIC,
        )?;
        sample::sync_via(x)?;
        println!("xn_crash: synced f{i}");
    }
    x.shutdown()?;
    Ok(0)
}

fn check(x: &mut Sys) -> Result<u8, Error> {
    let t = types(x)?;
    let e = x.lookup(ROOT)?;
    x.read_and_insert(e.db, 1)?;
    x.mount(ROOT)?;
    let (mut intact, mut damaged) = (0u32, 0u32);
    for d in sample::list_dir_via(x, e.db)? {
        let u = Update {
            own_id: d.slot,
            db: d.db,
            nblocks: 1,
            ty: t.dir,
        };
        sample::load_via(x, e.db, u)?;
        for ent in sample::list_dir_via(x, d.db)? {
            let Some(i) = ent.name.strip_prefix('f').and_then(|n| n.parse().ok()) else {
                continue;
            };
            let u = Update {
                own_id: ent.slot,
                db: ent.db,
                nblocks: 1,
                ty: t.inode,
            };
            let same = sample::load_via(x, d.db, u)
                .and_then(|_| sample::read_file_via(x, t, ent.db))
                .map(|data| data == pattern(i));
            match same {
                Ok(true) => {
                    intact += 1;
                    println!("xn_crash: f{i} intact");
                }
                other => {
                    damaged += 1;
                    println!("xn_crash: f{i} DAMAGED ({other:?})");
                }
            }
        }
    }
    x.shutdown()?;
    println!("xn_crash: {intact} files intact, {damaged} damaged");
    Ok((damaged > 0) as u8)
}
