//! The UDF interpreter. Every invocation starts from the same state (registers zero but
//! for the arguments), loads are bounds-checked, and the bytes of the metadata block it
//! reads are traced: that read set is the invocation's state partition (§4.1.1).

use super::insn::{Insn, Opcode};
use super::{Fault, Kind, MAX_EMITS, MAX_EMIT_BLOCKS, MAX_STEPS, NREGS};
use crate::BLOCK_SIZE;
use alloc::vec::Vec;

/// One extent emitted by owns-udf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Emit {
    pub db: u64,
    pub n: u64,
    pub ty: u16,
}

/// What a UDF sees.
pub struct Input<'a> {
    /// Segment 0: the metadata block; segment 1 (acl-uf): the proposed new image.
    pub segs: [&'a [u8]; 2],
    /// Initial r0..r4.
    pub args: [u64; 5],
    /// The clock behind `TIME` (acl-uf, size-uf only).
    pub clock: Option<&'a dyn Fn() -> u64>,
}

/// Bytes of segment 0 read by an invocation.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadSet([u64; BLOCK_SIZE / 64]);

impl Default for ReadSet {
    fn default() -> Self {
        ReadSet([0; BLOCK_SIZE / 64])
    }
}

impl core::fmt::Debug for ReadSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ReadSet({} bytes)",
            self.0.iter().map(|w| w.count_ones()).sum::<u32>()
        )
    }
}

impl ReadSet {
    pub fn add(&mut self, off: usize, len: usize) {
        for i in off..(off + len).min(BLOCK_SIZE) {
            self.0[i / 64] |= 1 << (i % 64);
        }
    }
    pub fn contains(&self, i: usize) -> bool {
        i < BLOCK_SIZE && self.0[i / 64] & (1 << (i % 64)) != 0
    }
    /// Does any byte of [off, off + len) belong to the set?
    pub fn overlaps(&self, off: usize, len: usize) -> bool {
        (off..(off + len).min(BLOCK_SIZE)).any(|i| self.contains(i))
    }
    pub fn union(&mut self, other: &ReadSet) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= *b;
        }
    }
    pub fn intersects(&self, other: &ReadSet) -> bool {
        self.0.iter().zip(other.0.iter()).any(|(a, b)| a & b != 0)
    }
}

/// The result of one invocation.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub ret: u64,
    pub emits: Vec<Emit>,
    pub reads: ReadSet,
}

struct LoopState {
    start: usize,
    end: usize,
    idx: usize,
    count: u64,
    i: u64,
}

/// Run verified `code` of kind `kind` on `input`.
pub fn run(code: &[Insn], kind: Kind, input: &Input) -> Result<Outcome, Fault> {
    let mut r = [0u64; NREGS];
    r[..5].copy_from_slice(&input.args);
    let mut out = Outcome {
        ret: 0,
        emits: Vec::new(),
        reads: ReadSet::default(),
    };
    let mut lp: Option<LoopState> = None;
    let mut pc = 0usize;
    let mut steps = 0u64;
    loop {
        if let Some(l) = lp.as_mut() {
            if pc == l.end {
                l.i += 1;
                if l.i < l.count {
                    r[l.idx] = l.i;
                    pc = l.start;
                } else {
                    lp = None;
                }
            }
        }
        if pc >= code.len() {
            return Ok(out);
        }
        steps += 1;
        if steps > MAX_STEPS {
            return Err(Fault::Steps);
        }
        let insn = code[pc];
        let op = insn.opcode().ok_or(Fault::Unverified)?;
        let (a, b, c) = (insn.a as usize, insn.b as usize, insn.c as usize);
        if a >= NREGS || b >= NREGS {
            return Err(Fault::Unverified);
        }
        let rc = || {
            if c < NREGS {
                Ok(r[c])
            } else {
                Err(Fault::Unverified)
            }
        };
        pc += 1;
        match op {
            Opcode::Li => r[a] = insn.imm as u64,
            Opcode::Lih => r[a] = (r[a] & 0xffff_ffff) | ((insn.imm as u64) << 32),
            Opcode::Mov => r[a] = r[b],
            Opcode::Add => r[a] = r[b].wrapping_add(rc()?),
            Opcode::Sub => r[a] = r[b].wrapping_sub(rc()?),
            Opcode::Mul => r[a] = r[b].wrapping_mul(rc()?),
            Opcode::Divu => r[a] = r[b].checked_div(rc()?).ok_or(Fault::DivZero)?,
            Opcode::Remu => r[a] = r[b].checked_rem(rc()?).ok_or(Fault::DivZero)?,
            Opcode::And => r[a] = r[b] & rc()?,
            Opcode::Or => r[a] = r[b] | rc()?,
            Opcode::Xor => r[a] = r[b] ^ rc()?,
            Opcode::Shl => r[a] = r[b] << (rc()? & 63),
            Opcode::Shr => r[a] = r[b] >> (rc()? & 63),
            Opcode::Addi => r[a] = r[b].wrapping_add(insn.imm as i32 as i64 as u64),
            Opcode::Ld8 | Opcode::Ld16 | Opcode::Ld32 | Opcode::Ld64 => {
                let w = op.load_width().unwrap_or(8);
                if c >= kind.segments() as usize {
                    return Err(Fault::Unverified);
                }
                let seg = input.segs[c];
                let off = r[b].wrapping_add(insn.imm as i32 as i64 as u64);
                let end = off.checked_add(w as u64).ok_or(Fault::OutOfBounds)?;
                if end > seg.len() as u64 {
                    return Err(Fault::OutOfBounds);
                }
                let off = off as usize;
                let mut v = [0u8; 8];
                v[..w].copy_from_slice(&seg[off..off + w]);
                r[a] = u64::from_le_bytes(v);
                if c == 0 {
                    out.reads.add(off, w);
                }
            }
            Opcode::Jmp => pc += insn.imm as usize,
            Opcode::Jeq | Opcode::Jne | Opcode::Jltu | Opcode::Jgeu => {
                let taken = match op {
                    Opcode::Jeq => r[a] == r[b],
                    Opcode::Jne => r[a] != r[b],
                    Opcode::Jltu => r[a] < r[b],
                    _ => r[a] >= r[b],
                };
                if taken {
                    pc += insn.imm as usize;
                }
            }
            Opcode::Loop => {
                let (max, len) = insn.loop_shape();
                if lp.is_some() {
                    return Err(Fault::Unverified);
                }
                let count = r[b];
                if count > max as u64 {
                    return Err(Fault::LoopBound);
                }
                if count == 0 {
                    pc += len;
                } else {
                    r[a] = 0;
                    lp = Some(LoopState {
                        start: pc,
                        end: pc + len,
                        idx: a,
                        count,
                        i: 0,
                    });
                }
            }
            Opcode::Emit => {
                if kind != Kind::Owns {
                    return Err(Fault::Unverified);
                }
                let (db, n, ty) = (r[a], r[b], rc()?);
                if n == 0
                    || n > MAX_EMIT_BLOCKS
                    || ty > u16::MAX as u64
                    || out.emits.len() >= MAX_EMITS
                {
                    return Err(Fault::BadEmit);
                }
                db.checked_add(n).ok_or(Fault::BadEmit)?;
                out.emits.push(Emit {
                    db,
                    n,
                    ty: ty as u16,
                });
            }
            Opcode::Ret => {
                out.ret = r[a];
                return Ok(out);
            }
            Opcode::Time => {
                if kind.deterministic() {
                    return Err(Fault::Unverified);
                }
                r[a] = input.clock.map_or(0, |f| f());
            }
        }
    }
}
