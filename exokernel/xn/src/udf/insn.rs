//! Instruction encoding: 8 bytes, `[op, a, b, c, imm: u32 LE]`.

/// Bytes per instruction.
pub const INSN_BYTES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// a = imm (zero-extended).
    Li = 0x01,
    /// a = (a & 0xffff_ffff) | imm << 32.
    Lih = 0x02,
    /// a = b.
    Mov = 0x03,
    Add = 0x04,
    Sub = 0x05,
    Mul = 0x06,
    /// Unsigned division; faults on zero.
    Divu = 0x07,
    Remu = 0x08,
    And = 0x09,
    Or = 0x0a,
    Xor = 0x0b,
    /// Shifts use the low 6 bits of c.
    Shl = 0x0c,
    Shr = 0x0d,
    /// a = b + sign-extended imm.
    Addi = 0x0e,
    /// a = load(segment c, b + imm), little-endian, zero-extended.
    Ld8 = 0x10,
    Ld16 = 0x11,
    Ld32 = 0x12,
    Ld64 = 0x13,
    /// Jump forward to pc + 1 + imm.
    Jmp = 0x20,
    /// if a == b (Jeq) ... jump forward to pc + 1 + imm.
    Jeq = 0x21,
    Jne = 0x22,
    Jltu = 0x23,
    Jgeu = 0x24,
    /// Run the next `imm & 0xfff` instructions `b` times (at most `imm >> 12`), with the
    /// iteration index in register a, which the body may not write. No nesting.
    Loop = 0x28,
    /// owns-udf output: extent [a, a + b) of type c.
    Emit = 0x30,
    /// Return register a.
    Ret = 0x31,
    /// a = a clock reading: nondeterministic, acl-uf and size-uf only.
    Time = 0x38,
}

impl Opcode {
    pub fn from_u8(v: u8) -> Option<Opcode> {
        use Opcode::*;
        Some(match v {
            0x01 => Li,
            0x02 => Lih,
            0x03 => Mov,
            0x04 => Add,
            0x05 => Sub,
            0x06 => Mul,
            0x07 => Divu,
            0x08 => Remu,
            0x09 => And,
            0x0a => Or,
            0x0b => Xor,
            0x0c => Shl,
            0x0d => Shr,
            0x0e => Addi,
            0x10 => Ld8,
            0x11 => Ld16,
            0x12 => Ld32,
            0x13 => Ld64,
            0x20 => Jmp,
            0x21 => Jeq,
            0x22 => Jne,
            0x23 => Jltu,
            0x24 => Jgeu,
            0x28 => Loop,
            0x30 => Emit,
            0x31 => Ret,
            0x38 => Time,
            _ => return None,
        })
    }

    /// Does this instruction write register a?
    pub fn writes_a(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            Li | Lih
                | Mov
                | Add
                | Sub
                | Mul
                | Divu
                | Remu
                | And
                | Or
                | Xor
                | Shl
                | Shr
                | Addi
                | Ld8
                | Ld16
                | Ld32
                | Ld64
                | Time
        )
    }

    pub fn is_branch(self) -> bool {
        use Opcode::*;
        matches!(self, Jmp | Jeq | Jne | Jltu | Jgeu)
    }

    pub fn load_width(self) -> Option<usize> {
        match self {
            Opcode::Ld8 => Some(1),
            Opcode::Ld16 => Some(2),
            Opcode::Ld32 => Some(4),
            Opcode::Ld64 => Some(8),
            _ => None,
        }
    }
}

/// A decoded instruction. The opcode byte is kept raw so undecodable code can be
/// represented (and refused by the verifier) rather than failing to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub op: u8,
    pub a: u8,
    pub b: u8,
    pub c: u8,
    pub imm: u32,
}

impl Insn {
    pub const fn new(op: Opcode, a: u8, b: u8, c: u8, imm: u32) -> Insn {
        Insn {
            op: op as u8,
            a,
            b,
            c,
            imm,
        }
    }

    pub fn opcode(&self) -> Option<Opcode> {
        Opcode::from_u8(self.op)
    }

    pub fn encode(&self) -> [u8; INSN_BYTES] {
        let i = self.imm.to_le_bytes();
        [self.op, self.a, self.b, self.c, i[0], i[1], i[2], i[3]]
    }

    pub fn decode(b: &[u8; INSN_BYTES]) -> Insn {
        Insn {
            op: b[0],
            a: b[1],
            b: b[2],
            c: b[3],
            imm: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Loop fields: (max iterations, body length).
    pub fn loop_shape(&self) -> (u32, usize) {
        (self.imm >> 12, (self.imm & 0xfff) as usize)
    }
}
