//! A tiny assembler so templates can be written readably in Rust (the "reasonable
//! defaults" lesson of §6.3.3): forward labels, loops, and one helper per opcode.

use super::insn::{Insn, Opcode};
use alloc::vec::Vec;

/// A forward label.
#[derive(Clone, Copy, Debug)]
pub struct Label(usize);

#[derive(Default)]
pub struct Asm {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    open_loop: Option<usize>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn push(&mut self, op: Opcode, a: u8, b: u8, c: u8, imm: u32) -> &mut Self {
        self.code.push(Insn::new(op, a, b, c, imm));
        self
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, l: Label) -> &mut Self {
        self.labels[l.0] = Some(self.code.len());
        self
    }

    fn branch(&mut self, op: Opcode, a: u8, b: u8, l: Label) -> &mut Self {
        self.fixups.push((self.code.len(), l));
        self.push(op, a, b, 0, 0)
    }

    pub fn li(&mut self, d: u8, v: u64) -> &mut Self {
        self.push(Opcode::Li, d, 0, 0, v as u32);
        if v >> 32 != 0 {
            self.push(Opcode::Lih, d, 0, 0, (v >> 32) as u32);
        }
        self
    }
    pub fn mov(&mut self, d: u8, s: u8) -> &mut Self {
        self.push(Opcode::Mov, d, s, 0, 0)
    }
    pub fn alu(&mut self, op: Opcode, d: u8, s: u8, t: u8) -> &mut Self {
        self.push(op, d, s, t, 0)
    }
    pub fn addi(&mut self, d: u8, s: u8, v: i32) -> &mut Self {
        self.push(Opcode::Addi, d, s, 0, v as u32)
    }
    /// d = load `width` bytes (1, 2, 4, 8) from segment `seg` at s + off.
    pub fn ld(&mut self, width: u8, d: u8, s: u8, off: i32, seg: u8) -> &mut Self {
        let op = match width {
            1 => Opcode::Ld8,
            2 => Opcode::Ld16,
            4 => Opcode::Ld32,
            _ => Opcode::Ld64,
        };
        self.push(op, d, s, seg, off as u32)
    }
    pub fn jmp(&mut self, l: Label) -> &mut Self {
        self.branch(Opcode::Jmp, 0, 0, l)
    }
    pub fn jeq(&mut self, a: u8, b: u8, l: Label) -> &mut Self {
        self.branch(Opcode::Jeq, a, b, l)
    }
    pub fn jne(&mut self, a: u8, b: u8, l: Label) -> &mut Self {
        self.branch(Opcode::Jne, a, b, l)
    }
    pub fn jltu(&mut self, a: u8, b: u8, l: Label) -> &mut Self {
        self.branch(Opcode::Jltu, a, b, l)
    }
    pub fn jgeu(&mut self, a: u8, b: u8, l: Label) -> &mut Self {
        self.branch(Opcode::Jgeu, a, b, l)
    }
    /// Start a loop of `count_reg` iterations (at most `max`), index in `idx`; close with `end_loop`.
    pub fn loop_(&mut self, idx: u8, count_reg: u8, max: u32) -> &mut Self {
        self.open_loop = Some(self.code.len());
        self.push(Opcode::Loop, idx, count_reg, 0, max << 12)
    }
    pub fn end_loop(&mut self) -> &mut Self {
        if let Some(at) = self.open_loop.take() {
            let len = (self.code.len() - at - 1) as u32;
            self.code[at].imm |= len & 0xfff;
        }
        self
    }
    pub fn emit(&mut self, db: u8, n: u8, ty: u8) -> &mut Self {
        self.push(Opcode::Emit, db, n, ty, 0)
    }
    pub fn ret(&mut self, r: u8) -> &mut Self {
        self.push(Opcode::Ret, r, 0, 0, 0)
    }
    pub fn time(&mut self, d: u8) -> &mut Self {
        self.push(Opcode::Time, d, 0, 0, 0)
    }
    /// A raw instruction (tests use this to build programs the verifier must refuse).
    pub fn raw(&mut self, i: Insn) -> &mut Self {
        self.code.push(i);
        self
    }

    /// Resolve labels. Unbound labels resolve to the end of the program.
    pub fn finish(&mut self) -> Vec<Insn> {
        let end = self.code.len();
        for &(at, l) in &self.fixups {
            let target = self.labels[l.0].unwrap_or(end);
            // Backward targets wrap to a huge offset, which the verifier refuses.
            self.code[at].imm = target.wrapping_sub(at + 1) as u32;
        }
        core::mem::take(&mut self.code)
    }
}
