//! Where documents come from: a root of the library file system on the XN
//! disk (cffs, or the sample layout `exo xn mkfs --add` writes), read once
//! and then served from the in-memory file cache.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use exo_xn::api::XnCalls;
use exo_xn::sample::{self, Types};
use exo_xn::{Db, Update};
use libos::fs::cffs::Cffs;
use libos::xn::Sys;

enum Fs {
    Cffs(Cffs<Sys>),
    Sample { x: Sys, t: Types, root: Db },
}

pub struct Docs {
    fs: Fs,
    cache: BTreeMap<String, Rc<Vec<u8>>>,
    pub hits: u64,
    pub misses: u64,
}

impl Docs {
    /// Mounts root `name` with the capability in `slot`.
    pub fn open(slot: usize, name: &str) -> Result<Docs, String> {
        let mut x = Sys::new(slot).map_err(|e| alloc::format!("no XN disk: {e}"))?;
        let entry = x
            .lookup(name)
            .map_err(|e| alloc::format!("root '{name}': {e}"))?;
        let fs = match sample::find_types_via(&mut x) {
            Some(t) if entry.ty == t.dir => {
                x.read_and_insert(entry.db, 1)
                    .and_then(|_| x.mount(name))
                    .map_err(|e| alloc::format!("mounting '{name}': {e}"))?;
                Fs::Sample {
                    x,
                    t,
                    root: entry.db,
                }
            }
            _ => Fs::Cffs(
                Cffs::mount(x, name).map_err(|e| alloc::format!("mounting '{name}': {e}"))?,
            ),
        };
        Ok(Docs {
            fs,
            cache: BTreeMap::new(),
            hits: 0,
            misses: 0,
        })
    }

    /// The document at `path`, from the cache or the file system.
    pub fn get(&mut self, path: &str) -> Option<Rc<Vec<u8>>> {
        if let Some(d) = self.cache.get(path) {
            self.hits += 1;
            return Some(d.clone());
        }
        let data = match &mut self.fs {
            Fs::Cffs(fs) => fs.read_file(path).ok()?,
            Fs::Sample { x, t, root } => {
                // One directory level: the sample layout's root holds files.
                let e = sample::list_dir_via(x, *root)
                    .ok()?
                    .into_iter()
                    .find(|e| e.name == path && e.kind == sample::KIND_FILE)?;
                let u = Update {
                    own_id: e.slot,
                    db: e.db,
                    nblocks: 1,
                    ty: t.inode,
                };
                sample::load_via(x, *root, u).ok()?;
                sample::read_file_via(x, *t, e.db).ok()?
            }
        };
        self.misses += 1;
        let d = Rc::new(data);
        self.cache.insert(path.into(), d.clone());
        Some(d)
    }
}
