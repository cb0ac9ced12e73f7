//! The JIT: the merged trie compiled to one x86-64 function
//! `extern "sysv64" fn(pkt: *const u8, len: usize) -> u32` returning the winning filter id
//! or `u32::MAX`. Constants are immediates (byte-swapped at compile time, so loads need no
//! swap), a length check already implied by an ancestor is not repeated, groups with more
//! than [`HASH_MIN`] children dispatch through a table with a compile-time-chosen hash.
//!
//! Incremental: each node's code is a position-independent fragment (its subtree). After
//! an insert or remove only the nodes on the changed path are regenerated; every other
//! subtree's bytes are copied from the previous code. The copy is still O(code size) per
//! change (a memcpy), but code generation, hash-table construction included, is O(path).

mod asm;

use crate::atom::full_mask;
use crate::hash::{Table, HASH_MIN};
use crate::interp::match_key;
use crate::trie::{Kind, NodeId, Trie, ROOT};
use alloc::vec::Vec;
use asm::{Asm, Cond, Dst, Label};
use core::fmt;

/// Why code could not be produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JitError {
    TooLarge {
        bytes: usize,
        max: usize,
    },
    /// An inconsistency in the JIT itself; the previous code stays in force.
    Internal,
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::TooLarge { bytes, max } => {
                write!(
                    f,
                    "compiled filters need {bytes} bytes of code, limit {max}"
                )
            }
            JitError::Internal => write!(f, "internal JIT error"),
        }
    }
}

/// Where a node's fragment was in the last code: `rel` from its parent's fragment start.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    rel: u32,
    len: u32,
    serial: u64,
}

/// What one compilation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub emitted_nodes: usize,
    pub copied_nodes: usize,
    pub copied_bytes: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Jit {
    code: Vec<u8>,
    spans: Vec<Span>,
}

struct Ctx<'a> {
    trie: &'a Trie,
    old: &'a [u8],
    spans: &'a [Span],
    incremental: bool,
    asm: Asm,
    pending: Vec<(NodeId, Span)>,
    stats: Stats,
}

/// The value a little-endian load of a big-endian `width`-byte field `v` gives.
fn to_le(v: u32, width: u32) -> u32 {
    match width {
        2 => (v as u16).swap_bytes() as u32,
        4 => v.swap_bytes(),
        _ => v,
    }
}

impl Jit {
    /// The current machine code (empty before the first compilation).
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// Compile `trie`. With `incremental`, clean subtrees are copied from the previous code;
    /// the trie's dirty marks say what changed. On error the previous code stays.
    pub fn compile(
        &mut self,
        trie: &Trie,
        incremental: bool,
        max_bytes: usize,
    ) -> Result<Stats, JitError> {
        let mut cx = Ctx {
            trie,
            old: &self.code,
            spans: &self.spans,
            incremental: incremental && !self.code.is_empty(),
            asm: Asm::with_capacity(self.code.len() + 64),
            pending: Vec::new(),
            stats: Stats::default(),
        };
        cx.asm.start();
        // The root's span is relative to the start of the code.
        let root_old = cx.old_start(ROOT, Some(0));
        cx.node(ROOT, 0, 0, [0; 4], root_old, 0)?;
        cx.asm.finish_key();
        let (pending, stats) = (cx.pending, cx.stats);
        let code = cx.asm.finish().ok_or(JitError::Internal)?;
        if code.len() > max_bytes {
            return Err(JitError::TooLarge {
                bytes: code.len(),
                max: max_bytes,
            });
        }
        self.code = code;
        for (id, span) in pending {
            let i = id as usize;
            if self.spans.len() <= i {
                self.spans.resize(i + 1, Span::default());
            }
            self.spans[i] = span;
        }
        Ok(stats)
    }
}

impl Ctx<'_> {
    /// Absolute start of `id` in the old code, given its parent's, if it was compiled there.
    fn old_start(&self, id: NodeId, parent: Option<usize>) -> Option<usize> {
        let s = self.spans.get(id as usize)?;
        (s.serial == self.trie.node(id).serial && s.len > 0).then_some(parent? + s.rel as usize)
    }

    fn node(
        &mut self,
        id: NodeId,
        depth: usize,
        seg: usize,
        checked: [u32; 4],
        old: Option<usize>,
        parent_start: usize,
    ) -> Result<(), JitError> {
        let node = self.trie.node(id);
        let start = self.asm.pos();
        let rel = u32::try_from(start - parent_start).map_err(|_| JitError::Internal)?;
        let reuse = match (
            self.incremental && !node.dirty,
            old,
            self.spans.get(id as usize),
        ) {
            (true, Some(at), Some(s)) => self.old.get(at..at + s.len as usize),
            _ => None,
        };
        if let Some(bytes) = reuse {
            self.asm.copy(bytes);
            self.stats.copied_nodes += 1;
            self.stats.copied_bytes += bytes.len();
        } else {
            self.stats.emitted_nodes += 1;
            if let Some(&first) = node.accept.first() {
                self.asm.accept(match_key(depth, first));
            }
            for gi in 0..node.groups.len() {
                self.group(id, gi, depth, seg, checked, old, start)?;
            }
        }
        let len = u32::try_from(self.asm.pos() - start).map_err(|_| JitError::Internal)?;
        let span = Span {
            rel,
            len,
            serial: node.serial,
        };
        self.pending.push((id, span));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn group(
        &mut self,
        id: NodeId,
        gi: usize,
        depth: usize,
        seg: usize,
        mut checked: [u32; 4],
        old: Option<usize>,
        start: usize,
    ) -> Result<(), JitError> {
        let g = &self.trie.node(id).groups[gi];
        let miss = self.asm.label();
        match g.kind {
            Kind::Test(field) => {
                let end = field.offset + field.width;
                if end > checked[seg] {
                    self.asm.check_len(seg, end, miss);
                    checked[seg] = end;
                }
                self.asm.load(seg, field.offset, field.width, Dst::Ecx);
                let mask = to_le(field.mask, field.width);
                if mask != full_mask(field.width) {
                    self.asm.and_ecx(mask);
                }
                let labels: Vec<Label> = g.children.iter().map(|_| self.asm.label()).collect();
                let keys: Vec<u32> = g.children.iter().map(|c| to_le(c.0, field.width)).collect();
                if keys.len() == 1 {
                    self.asm.cmp_ecx(keys[0]);
                    self.asm.jcc(Cond::NotEqual, miss);
                } else if keys.len() <= HASH_MIN {
                    for (k, l) in keys.iter().zip(&labels) {
                        self.asm.cmp_ecx(*k);
                        self.asm.jcc(Cond::Equal, *l);
                    }
                    self.asm.jmp(miss);
                } else {
                    let t = Table::build(&keys);
                    let slots: Vec<_> = t
                        .slots
                        .iter()
                        .map(|s| s.map(|i| (keys[i as usize], labels[i as usize])))
                        .collect();
                    self.asm
                        .hash_dispatch(t.mult, t.bits, &slots, t.max_probe, miss);
                }
                let n = g.children.len();
                for (i, &(_, c)) in g.children.iter().enumerate() {
                    self.asm.bind(labels[i]);
                    let c_old = self.old_start(c, old);
                    self.node(c, depth + 1, seg, checked, c_old, start)?;
                    if i + 1 < n {
                        self.asm.jmp(miss);
                    }
                }
            }
            Kind::Shift(s) => {
                let next = seg + 1;
                if next >= checked.len() {
                    return Err(JitError::Internal);
                }
                if s.offset + 1 > checked[seg] {
                    self.asm.check_len(seg, s.offset + 1, miss);
                    checked[seg] = s.offset + 1;
                }
                self.asm.load(seg, s.offset, 1, Dst::Eax);
                self.asm.and_eax(s.mask);
                self.asm.lea_base(next, seg, s.scale, s.add);
                checked[next] = 0;
                for &(_, c) in &g.children {
                    let c_old = self.old_start(c, old);
                    self.node(c, depth + 1, next, checked, c_old, start)?;
                }
            }
        }
        self.asm.bind(miss);
        Ok(())
    }
}
