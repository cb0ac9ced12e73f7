//! UDFs: the untrusted functions a libFS gives XN with each metadata type (thesis §4.2).
//!
//! A small pseudo-RISC bytecode: 16 64-bit registers, byte loads from read-only segments
//! (segment 0: the metadata block; segment 1: the proposed new block, acl-uf only),
//! forward branches, and one *bounded* loop form. The verifier ([`verify()`]) proves every
//! program terminates within [`MAX_STEPS`] and that owns-udf and refcnt-udf use only
//! deterministic instructions; the interpreter ([`run`]) bounds-checks each load, traces
//! the bytes it reads (the implicit state partition of §4.1.1) and collects owns' output.

mod insn;
mod interp;
mod verify;

pub mod asm;

pub use insn::{Insn, Opcode, INSN_BYTES};
pub use interp::{run, Emit, Input, Outcome, ReadSet};
pub use verify::verify;

/// Registers per program.
pub const NREGS: usize = 16;
/// Longest program.
pub const MAX_INSNS: usize = 1024;
/// Worst-case instructions executed by one invocation (checked statically).
pub const MAX_STEPS: u64 = 1 << 16;
/// Most iterations one `LOOP` may declare.
pub const MAX_LOOP_ITERS: u32 = 4096;
/// Most extents one owns-udf invocation may emit.
pub const MAX_EMITS: usize = 4096;
/// Largest extent one emit may name.
pub const MAX_EMIT_BLOCKS: u64 = 4096;

/// Which of a template's four functions a program is; decides what it may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// owns-udf: deterministic; args r0 = partition id, r1 = the block's number; emits extents.
    Owns,
    /// refcnt-udf: deterministic; args r1 = the block's number; returns the count.
    Refcnt,
    /// acl-uf: may be nondeterministic; args r0 = [`AclOp`], r1 = capability, r2 = block,
    /// r3 = target block, r4 = environment; segment 1 = proposed image; returns non-zero to allow.
    Acl,
    /// size-uf: may be nondeterministic; returns the structure's size in bytes.
    Size,
}

impl Kind {
    /// owns and refcnt must be deterministic: their past results are XN's bookkeeping.
    pub fn deterministic(self) -> bool {
        matches!(self, Kind::Owns | Kind::Refcnt)
    }
    pub fn segments(self) -> u8 {
        if self == Kind::Acl {
            2
        } else {
            1
        }
    }
}

/// The operation an acl-uf is asked about (its r0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum AclOp {
    Read = 0,
    Write = 1,
    /// Add a pointer to this block (alloc, or the source of add_edge).
    Alloc = 2,
    /// Remove a pointer from this block.
    Free = 3,
    /// Become the target of a new edge (reference count goes up).
    Link = 4,
    /// Lose an edge (reference count goes down).
    Unlink = 5,
}

/// A UDF failed at run time; the operation that ran it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A load outside its segment.
    OutOfBounds,
    /// Division by zero.
    DivZero,
    /// A loop's run-time count exceeds its declared bound.
    LoopBound,
    /// Too many or too large emits, or a duplicate block in owns' output.
    BadEmit,
    /// The step budget ran out (cannot happen for verified code; kept as a second line).
    Steps,
    /// Code that did not pass the verifier.
    Unverified,
}

/// Why the verifier refused a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    TooLong,
    BadOpcode {
        pc: usize,
    },
    BadRegister {
        pc: usize,
    },
    BadSegment {
        pc: usize,
    },
    /// A backward or out-of-range jump: unbounded loops are not allowed.
    BadJump {
        pc: usize,
    },
    /// A loop that nests, overruns the program, or whose body writes its index.
    BadLoop {
        pc: usize,
    },
    /// An instruction this kind of UDF may not use (emit outside owns, time in owns/refcnt).
    Forbidden {
        pc: usize,
    },
    /// The worst-case step count exceeds [`MAX_STEPS`].
    TooSlow,
    /// Malformed template container.
    BadTemplate,
}

#[cfg(test)]
mod tests;
