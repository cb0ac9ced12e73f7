//! Host tests of the libFSes over an in-memory XN disk.

mod cffs;
mod coexist;
mod crash;
mod hostile;

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use exo_xn::api::{CatEntry, Direct, XnCalls};
use exo_xn::registry::XrAttr;
use exo_xn::{Cred, Db, Error, Init, MemDisk, Mod, MountKind, TypeId, Update, VecPageStore, Xn};

pub const ALICE: Cred = Cred {
    env: 1,
    cap: 0xa11ce,
};
pub const BOB: Cred = Cred { env: 2, cap: 0xb0b };

pub type TestXn = Xn<MemDisk, VecPageStore>;

/// One XN shared by several principals: each `Shared` makes its calls as
/// its own credential (what two environments see through system calls).
#[derive(Clone)]
pub struct Shared {
    pub xn: Rc<RefCell<TestXn>>,
    pub cred: Cred,
}

impl Shared {
    pub fn new(xn: TestXn, cred: Cred) -> Shared {
        Shared {
            xn: Rc::new(RefCell::new(xn)),
            cred,
        }
    }
    pub fn as_(&self, cred: Cred) -> Shared {
        Shared {
            xn: self.xn.clone(),
            cred,
        }
    }
}

macro_rules! fwd {
    ($s:ident . $m:ident ( $($a:expr),* )) => {{
        let mut g = $s.xn.borrow_mut();
        Direct { xn: &mut *g, cred: $s.cred }.$m($($a),*)
    }};
}

impl XnCalls for Shared {
    fn cap(&self) -> u64 {
        self.cred.cap
    }
    fn reserve_type(&mut self, name: &str) -> Result<TypeId, Error> {
        fwd!(self.reserve_type(name))
    }
    fn install_mount(
        &mut self,
        name: &str,
        db: Option<Db>,
        nblocks: u64,
        kind: MountKind,
        init: Init,
    ) -> Result<Db, Error> {
        fwd!(self.install_mount(name, db, nblocks, kind, init))
    }
    fn type_import(&mut self, name: &str) -> Result<TypeId, Error> {
        fwd!(self.type_import(name))
    }
    fn lookup(&mut self, name: &str) -> Result<CatEntry, Error> {
        fwd!(self.lookup(name))
    }
    fn mount(&mut self, name: &str) -> Result<(), Error> {
        fwd!(self.mount(name))
    }
    fn read_and_insert(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        fwd!(self.read_and_insert(db, n))
    }
    fn insert_attr(&mut self, parent: Db, u: Update) -> Result<(), Error> {
        fwd!(self.insert_attr(parent, u))
    }
    fn alloc(&mut self, parent: Db, u: Update, mv: &[Mod], init: Init) -> Result<(), Error> {
        fwd!(self.alloc(parent, u, mv, init))
    }
    fn free(&mut self, parent: Db, u: Update, mv: &[Mod], kid_mv: &[Mod]) -> Result<(), Error> {
        fwd!(self.free(parent, u, mv, kid_mv))
    }
    fn add_edge(
        &mut self,
        src: Db,
        own_id: u32,
        src_mv: &[Mod],
        dst: Db,
        dst_mv: &[Mod],
    ) -> Result<(), Error> {
        fwd!(self.add_edge(src, own_id, src_mv, dst, dst_mv))
    }
    fn readb(&mut self, db: Db, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        fwd!(self.readb(db, offset, out))
    }
    fn writeb(&mut self, db: Db, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        fwd!(self.writeb(db, offset, bytes))
    }
    fn writeback(&mut self, db: Db, n: u64) -> Result<u64, Error> {
        fwd!(self.writeback(db, n))
    }
    fn find_free(&mut self, hint: Db, n: u64) -> Option<Db> {
        fwd!(self.find_free(hint, n))
    }
    fn udf_enum(&mut self, db: Db, b: u32, e: u32) -> Result<Vec<Update>, Error> {
        fwd!(self.udf_enum(db, b, e))
    }
    fn read_attr(&mut self, db: Db) -> Option<XrAttr> {
        fwd!(self.read_attr(db))
    }
    fn get_refcnt(&mut self, db: Db) -> Result<Option<u64>, Error> {
        fwd!(self.get_refcnt(db))
    }
    fn list_writeable(&mut self) -> Vec<Db> {
        fwd!(self.list_writeable())
    }
}

/// A freshly formatted XN disk of `nblocks`.
pub fn fresh(nblocks: u64) -> TestXn {
    Xn::format(MemDisk::new(nblocks), VecPageStore::new()).unwrap()
}

/// Deterministic test bytes.
pub fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// xorshift: a small deterministic PRNG for workloads.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
