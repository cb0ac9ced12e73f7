//! Templates: a metadata type's description, stored on disk in the type's extent (the
//! thesis' "type structure"): a name, the number of owns partitions, and the four UDFs.
//! Once imported a template never changes (§4.2), which is what lets XN trust past runs.

use crate::udf::{self, Insn, Kind, VerifyError, INSN_BYTES};
use crate::BLOCK_SIZE;
use alloc::string::String;
use alloc::vec::Vec;

const MAGIC: &[u8; 4] = b"XNT1";
const HEADER: usize = 80;
/// Longest template, in blocks.
pub const MAX_BLOCKS: usize = 4;
/// Longest type name.
pub const NAME_LEN: usize = 32;
/// Most owns partitions per block.
pub const MAX_PARTS: u32 = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    /// Number of owns partitions (state partitioning, §4.1.1): owns-udf is run once per
    /// partition id, each run's read set is that partition's state.
    pub nparts: u32,
    pub owns: Vec<Insn>,
    /// Empty: the type has no reference count (at most one parent, no add_edge).
    pub refcnt: Vec<Insn>,
    /// Empty: every principal may do everything.
    pub acl: Vec<Insn>,
    /// Empty: the structure is one block.
    pub size: Vec<Insn>,
}

impl Template {
    pub fn has_refcnt(&self) -> bool {
        !self.refcnt.is_empty()
    }

    /// The checks `sys_type_import` makes: UDFs verified for their kind, sane partitions.
    pub fn verify(&self) -> Result<(), VerifyError> {
        if self.nparts == 0
            || self.nparts > MAX_PARTS
            || self.name.is_empty()
            || self.name.len() > NAME_LEN
        {
            return Err(VerifyError::BadTemplate);
        }
        udf::verify(&self.owns, Kind::Owns)?;
        udf::verify(&self.refcnt, Kind::Refcnt)?;
        udf::verify(&self.acl, Kind::Acl)?;
        udf::verify(&self.size, Kind::Size)
    }

    /// Serialize into whole blocks.
    pub fn encode(&self) -> Vec<u8> {
        let progs = [&self.owns, &self.refcnt, &self.acl, &self.size];
        let total: usize = progs.iter().map(|p| p.len()).sum();
        let mut out = Vec::with_capacity(HEADER + total * INSN_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.nparts.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        let mut name = [0u8; NAME_LEN];
        let n = self.name.len().min(NAME_LEN);
        name[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        out.extend_from_slice(&name);
        let mut off = 0u32;
        for p in progs {
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            off += p.len() as u32;
        }
        for p in progs {
            for i in p.iter() {
                out.extend_from_slice(&i.encode());
            }
        }
        let blocks = out.len().div_ceil(BLOCK_SIZE).max(1);
        out.resize(blocks * BLOCK_SIZE, 0);
        out
    }

    /// Parse a template from its extent's bytes. Never panics; verification is separate.
    pub fn parse(bytes: &[u8]) -> Result<Template, VerifyError> {
        let bad = VerifyError::BadTemplate;
        if bytes.len() < HEADER || &bytes[..4] != MAGIC {
            return Err(bad);
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        if u16::from_le_bytes([bytes[4], bytes[5]]) != 1 {
            return Err(bad);
        }
        let nparts = u32_at(8);
        let total = u32_at(12) as usize;
        if total > 4 * udf::MAX_INSNS || HEADER + total * INSN_BYTES > bytes.len() {
            return Err(bad);
        }
        let raw_name = &bytes[16..16 + NAME_LEN];
        let nlen = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        let name = core::str::from_utf8(&raw_name[..nlen])
            .map_err(|_| bad)?
            .into();
        let code: Vec<Insn> = bytes[HEADER..HEADER + total * INSN_BYTES]
            .chunks_exact(INSN_BYTES)
            .map(|c| {
                let mut b = [0u8; INSN_BYTES];
                b.copy_from_slice(c);
                Insn::decode(&b)
            })
            .collect();
        let mut progs: [Vec<Insn>; 4] = Default::default();
        for (k, prog) in progs.iter_mut().enumerate() {
            let (off, len) = (u32_at(48 + 8 * k) as usize, u32_at(52 + 8 * k) as usize);
            let end = off.checked_add(len).ok_or(bad)?;
            if end > total {
                return Err(bad);
            }
            *prog = code[off..end].to_vec();
        }
        let [owns, refcnt, acl, size] = progs;
        Ok(Template {
            name,
            nparts,
            owns,
            refcnt,
            acl,
            size,
        })
    }
}
