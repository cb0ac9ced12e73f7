//! The root catalogue (persistent table of named types and file system roots) and the
//! type catalogue (the verified templates of the imported types, in memory).
//!
//! A type is born as a raw extent (`Kind::Extent`, the thesis' `XN_DB`), filled with its
//! template by writeb + writeback, then converted by `type_import` (`Kind::Type`). A name
//! can be reserved first (`Kind::Reserved`) to get its type id for mutually recursive
//! types. A type's id is derived from its slot, so it is stable across reboots.

use crate::disk::Disk;
use crate::error::Error;
use crate::layout::{checksum, get_u32, get_u64, Superblock};
use crate::template::Template;
use crate::{Db, TypeId, BLOCK_SIZE};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

pub const ENTRY_BYTES: usize = 64;
pub const ENTRIES_PER_BLOCK: usize = BLOCK_SIZE / ENTRY_BYTES;
/// Longest catalogue name.
pub const NAME_LEN: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Raw blocks: a type's template under construction.
    Extent,
    /// An imported, verified type.
    Type,
    /// A name holding a type id, with no blocks yet.
    Reserved,
    /// A file system root of the given type.
    Root(TypeId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    pub db: Db,
    pub nblocks: u64,
    /// The capability that may modify or remove the entry.
    pub cap: u64,
    /// Temporary (volatile) tree: never written to disk, exempt from ordering rules.
    pub temporary: bool,
    /// Reconstruction found bad reference counts in this tree: fix before use.
    pub tainted: bool,
}

const F_TEMPORARY: u8 = 1;
const F_TAINTED: u8 = 2;

impl Entry {
    fn encode(&self, out: &mut [u8]) {
        out.fill(0);
        let n = self.name.len().min(NAME_LEN);
        out[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        let (kind, ty) = match self.kind {
            Kind::Extent => (1u8, 0u16),
            Kind::Type => (2, 0),
            Kind::Reserved => (3, 0),
            Kind::Root(t) => (4, t.0),
        };
        out[24] = kind;
        out[25] =
            if self.temporary { F_TEMPORARY } else { 0 } | if self.tainted { F_TAINTED } else { 0 };
        out[26..28].copy_from_slice(&ty.to_le_bytes());
        out[28..32].copy_from_slice(&(self.nblocks as u32).to_le_bytes());
        out[32..40].copy_from_slice(&self.db.to_le_bytes());
        out[40..48].copy_from_slice(&self.cap.to_le_bytes());
        let c = checksum(&out[..56]);
        out[56..64].copy_from_slice(&c.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Result<Option<Entry>, Error> {
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        if get_u64(b, 56) != checksum(&b[..56]) {
            return Err(Error::BadImage("root catalogue entry checksum mismatch"));
        }
        let nlen = b[..NAME_LEN]
            .iter()
            .position(|&x| x == 0)
            .unwrap_or(NAME_LEN);
        let name = core::str::from_utf8(&b[..nlen])
            .map_err(|_| Error::BadImage("root catalogue: bad name"))?;
        let ty = TypeId(u16::from_le_bytes([b[26], b[27]]));
        let kind = match b[24] {
            1 => Kind::Extent,
            2 => Kind::Type,
            3 => Kind::Reserved,
            4 => Kind::Root(ty),
            _ => return Err(Error::BadImage("root catalogue: bad entry kind")),
        };
        Ok(Some(Entry {
            name: name.into(),
            kind,
            nblocks: get_u32(b, 28) as u64,
            db: get_u64(b, 32),
            cap: get_u64(b, 40),
            temporary: b[25] & F_TEMPORARY != 0,
            tainted: b[25] & F_TAINTED != 0,
        }))
    }
}

/// Check a catalogue name: 1..=24 bytes, no NULs.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= NAME_LEN && !name.contains('\0')
}

#[derive(Clone, Debug)]
pub struct Catalogue {
    slots: Vec<Option<Entry>>,
}

impl Catalogue {
    pub fn new(sb: &Superblock) -> Catalogue {
        Catalogue {
            slots: vec![None; sb.cat_blocks as usize * ENTRIES_PER_BLOCK],
        }
    }

    pub fn find(&self, name: &str) -> Option<(usize, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.as_ref().filter(|e| e.name == name).map(|e| (i, e)))
    }

    pub fn get(&self, slot: usize) -> Option<&Entry> {
        self.slots.get(slot).and_then(|e| e.as_ref())
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Entry> {
        self.slots.get_mut(slot).and_then(|e| e.as_mut())
    }

    pub fn insert(&mut self, e: Entry) -> Result<usize, Error> {
        let slot = self
            .slots
            .iter()
            .position(|s| s.is_none())
            .ok_or(Error::CatalogueFull)?;
        self.slots[slot] = Some(e);
        Ok(slot)
    }

    pub fn remove(&mut self, slot: usize) -> Option<Entry> {
        self.slots.get_mut(slot).and_then(|s| s.take())
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
    }

    pub fn load<D: Disk>(disk: &mut D, sb: &Superblock) -> Result<Catalogue, Error> {
        let mut c = Catalogue::new(sb);
        let mut buf = [0u8; BLOCK_SIZE];
        for blk in 0..sb.cat_blocks {
            disk.read(sb.cat_start + blk, &mut buf)?;
            for (i, raw) in buf.chunks_exact(ENTRY_BYTES).enumerate() {
                let e = Entry::decode(raw)?;
                if let Some(e) = &e {
                    if e.db
                        .checked_add(e.nblocks)
                        .is_none_or(|end| end > sb.nblocks)
                    {
                        return Err(Error::BadImage(
                            "root catalogue: extent past the end of the disk",
                        ));
                    }
                }
                c.slots[blk as usize * ENTRIES_PER_BLOCK + i] = e;
            }
        }
        Ok(c)
    }

    /// Write the persistent entries (temporary ones live only in memory).
    pub fn store<D: Disk>(&self, disk: &mut D, sb: &Superblock) -> Result<(), Error> {
        for blk in 0..sb.cat_blocks as usize {
            let mut buf = [0u8; BLOCK_SIZE];
            for i in 0..ENTRIES_PER_BLOCK {
                if let Some(e) = self.slots[blk * ENTRIES_PER_BLOCK + i]
                    .as_ref()
                    .filter(|e| !e.temporary)
                {
                    e.encode(&mut buf[i * ENTRY_BYTES..(i + 1) * ENTRY_BYTES]);
                }
            }
            disk.write(sb.cat_start + blk as u64, &buf)?;
        }
        Ok(())
    }
}

/// The type catalogue: verified templates by type id.
#[derive(Clone, Debug, Default)]
pub struct Types {
    by_slot: Vec<Option<Template>>,
}

impl Types {
    pub fn get(&self, t: TypeId) -> Option<&Template> {
        t.slot()
            .and_then(|s| self.by_slot.get(s))
            .and_then(|t| t.as_ref())
    }

    pub fn insert(&mut self, t: TypeId, tpl: Template) {
        if let Some(s) = t.slot() {
            if self.by_slot.len() <= s {
                self.by_slot.resize(s + 1, None);
            }
            self.by_slot[s] = Some(tpl);
        }
    }

    pub fn remove(&mut self, t: TypeId) {
        if let Some(slot) = t.slot().and_then(|s| self.by_slot.get_mut(s)) {
            *slot = None;
        }
    }

    /// Is `t` a type blocks may have: raw data or an imported type?
    pub fn usable(&self, t: TypeId) -> bool {
        t == TypeId::DB || self.get(t).is_some()
    }

    /// Read, parse and verify every imported type on the disk.
    pub fn load<D: Disk>(disk: &mut D, cat: &Catalogue) -> Result<Types, Error> {
        let mut types = Types::default();
        for (slot, e) in cat.iter().filter(|(_, e)| e.kind == Kind::Type) {
            let tpl = read_template(disk, e)
                .map_err(|_| Error::BadImage("a type's template is corrupt"))?;
            types.insert(TypeId::from_slot(slot), tpl);
        }
        Ok(types)
    }
}

/// Read and verify the template stored in `e`'s extent.
pub fn read_template<D: Disk>(disk: &mut D, e: &Entry) -> Result<Template, Error> {
    if e.nblocks == 0 || e.nblocks > crate::template::MAX_BLOCKS as u64 {
        return Err(Error::BadType);
    }
    let mut bytes = vec![0u8; e.nblocks as usize * BLOCK_SIZE];
    let mut buf = [0u8; BLOCK_SIZE];
    for i in 0..e.nblocks {
        disk.read(e.db + i, &mut buf)?;
        bytes[i as usize * BLOCK_SIZE..(i as usize + 1) * BLOCK_SIZE].copy_from_slice(&buf);
    }
    let t = Template::parse(&bytes)?;
    t.verify()?;
    Ok(t)
}
