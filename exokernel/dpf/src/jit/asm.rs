//! A tiny x86-64 encoder for exactly the instructions the DPF JIT needs, with labels.
//!
//! Register use in generated code (System V: all caller-saved, so no prologue):
//! `rdi` packet, `rsi` length, `rdx` best match key, `rcx` loaded field, `rax` scratch,
//! `r8`–`r10` the bases of segments 1–3 (after each indirection), `r11` hash table address.
//! Every jump is relative and tables hold table-relative offsets, so a node's code is
//! position-independent and can be copied unchanged when the trie around it changes.

use alloc::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Below = 0x82,
    Equal = 0x84,
    NotEqual = 0x85,
    Above = 0x87,
}

/// Destination of a field load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dst {
    Eax = 0,
    Ecx = 1,
}

enum Fixup {
    /// rel32 at `at`, relative to the end of the 4 bytes.
    Rel32 { at: usize, label: Label },
    /// i32 at `at`, relative to `base` (hash table entries).
    TableRel {
        at: usize,
        label: Label,
        base: usize,
    },
}

#[derive(Default)]
pub struct Asm {
    pub out: Vec<u8>,
    labels: Vec<Option<usize>>,
    fixups: Vec<Fixup>,
}

/// Register number of the base of segment `seg` (>= 1): r8, r9, r10.
fn base_reg(seg: usize) -> u8 {
    7 + seg as u8
}

fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    (md << 6) | ((reg & 7) << 3) | (rm & 7)
}

impl Asm {
    pub fn with_capacity(n: usize) -> Asm {
        Asm {
            out: Vec::with_capacity(n),
            ..Asm::default()
        }
    }

    pub fn pos(&self) -> usize {
        self.out.len()
    }

    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    fn imm32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.out.len());
    }

    /// Resolve every fixup; `None` if a label was never bound (a JIT bug, not bad input).
    pub fn finish(mut self) -> Option<Vec<u8>> {
        for f in &self.fixups {
            let (at, label, base) = match *f {
                Fixup::Rel32 { at, label } => (at, label, at + 4),
                Fixup::TableRel { at, label, base } => (at, label, base),
            };
            let target = (*self.labels.get(label.0)?)?;
            let rel = target as i64 - base as i64;
            let rel = i32::try_from(rel).ok()?;
            self.out
                .get_mut(at..at + 4)?
                .copy_from_slice(&rel.to_le_bytes());
        }
        Some(self.out)
    }

    fn rel32(&mut self, label: Label) {
        self.fixups.push(Fixup::Rel32 {
            at: self.out.len(),
            label,
        });
        self.imm32(0);
    }

    pub fn jcc(&mut self, c: Cond, l: Label) {
        self.bytes(&[0x0f, c as u8]);
        self.rel32(l);
    }

    pub fn jmp(&mut self, l: Label) {
        self.bytes(&[0xe9]);
        self.rel32(l);
    }

    /// `xor edx, edx`: no match yet.
    pub fn start(&mut self) {
        self.bytes(&[0x31, 0xd2]);
    }

    /// `mov eax, edx; not eax; ret`: the id in the best key (`u32::MAX` for key 0).
    pub fn finish_key(&mut self) {
        self.bytes(&[0x89, 0xd0, 0xf7, 0xd0, 0xc3]);
    }

    /// `mov rax, key; cmp rax, rdx; cmova rdx, rax`: keep the better match.
    pub fn accept(&mut self, key: u64) {
        self.bytes(&[0x48, 0xb8]);
        self.bytes(&key.to_le_bytes());
        self.bytes(&[0x48, 0x39, 0xd0, 0x48, 0x0f, 0x47, 0xd0]);
    }

    /// Jump to `miss` unless `base(seg) + end <= len`.
    pub fn check_len(&mut self, seg: usize, end: u32, miss: Label) {
        if seg == 0 {
            self.bytes(&[0x48, 0x81, 0xfe]); // cmp rsi, end
            self.imm32(end);
            self.jcc(Cond::Below, miss);
        } else {
            let r = base_reg(seg);
            self.bytes(&[0x49, 0x8d, modrm(2, 0, r)]); // lea rax, [r + end]
            self.imm32(end);
            self.bytes(&[0x48, 0x39, 0xf0]); // cmp rax, rsi
            self.jcc(Cond::Above, miss);
        }
    }

    /// Load `width` bytes at `base(seg) + offset` (little-endian, zero-extended) into `dst`.
    pub fn load(&mut self, seg: usize, offset: u32, width: u32, dst: Dst) {
        if seg > 0 {
            self.bytes(&[0x42]); // REX.X: index is r8..r10
        }
        match width {
            1 => self.bytes(&[0x0f, 0xb6]),
            2 => self.bytes(&[0x0f, 0xb7]),
            _ => self.bytes(&[0x8b]),
        }
        if seg == 0 {
            self.bytes(&[modrm(2, dst as u8, 7)]); // [rdi + disp32]
        } else {
            let sib = modrm(0, base_reg(seg), 7); // [rdi + r*1 + disp32]
            self.bytes(&[modrm(2, dst as u8, 4), sib]);
        }
        self.imm32(offset);
    }

    pub fn and_ecx(&mut self, mask: u32) {
        self.bytes(&[0x81, 0xe1]);
        self.imm32(mask);
    }

    pub fn and_eax(&mut self, mask: u32) {
        self.bytes(&[0x25]);
        self.imm32(mask);
    }

    pub fn cmp_ecx(&mut self, v: u32) {
        self.bytes(&[0x81, 0xf9]);
        self.imm32(v);
    }

    /// `lea base(to), [base(from) + rax*scale + add]` (segment 0 has base 0).
    pub fn lea_base(&mut self, to: usize, from: usize, scale: u32, add: u32) {
        let ss = scale.trailing_zeros() as u8;
        let r = base_reg(to);
        if from == 0 {
            self.bytes(&[0x4c, 0x8d, modrm(0, r, 4), modrm(ss, 0, 5)]);
        } else {
            let b = base_reg(from);
            self.bytes(&[0x4d, 0x8d, modrm(2, r, 4), modrm(ss, 0, b)]);
        }
        self.imm32(add);
    }

    /// Hash dispatch on `ecx`: jump to the child whose key it is, else to `miss`. `slots`
    /// is the table (key, child label) in slot order; `max_probe == 0` elides the probe loop.
    pub fn hash_dispatch(
        &mut self,
        mult: u32,
        bits: u32,
        slots: &[Option<(u32, Label)>],
        max_probe: usize,
        miss: Label,
    ) {
        let table = self.label();
        let hit = self.label();
        self.bytes(&[0x69, 0xc1]); // imul eax, ecx, mult
        self.imm32(mult);
        self.bytes(&[0xc1, 0xe8, (32 - bits) as u8]); // shr eax, 32-bits
        self.bytes(&[0x4c, 0x8d, 0x1d]); // lea r11, [rip + table]
        self.rel32(table);
        let probe = self.label();
        self.bind(probe);
        self.bytes(&[0x41, 0x83, 0x7c, 0xc3, 0x04, 0x00]); // cmp dword [r11+rax*8+4], 0
        self.jcc(Cond::Equal, miss);
        self.bytes(&[0x41, 0x3b, 0x0c, 0xc3]); // cmp ecx, [r11+rax*8]
        if max_probe == 0 {
            self.jcc(Cond::NotEqual, miss);
        } else {
            self.jcc(Cond::Equal, hit);
            self.bytes(&[0xff, 0xc0]); // inc eax
            self.and_eax((slots.len() - 1) as u32);
            self.jmp(probe);
        }
        self.bind(hit);
        self.bytes(&[0x49, 0x63, 0x44, 0xc3, 0x04]); // movsxd rax, [r11+rax*8+4]
        self.bytes(&[0x4c, 0x01, 0xd8, 0xff, 0xe0]); // add rax, r11; jmp rax
                                                     // No alignment padding: it would depend on the absolute position, and fragments
                                                     // must stay position-independent; x86 loads tolerate unaligned entries.
        self.bind(table);
        let base = self.out.len();
        for s in slots {
            match *s {
                Some((key, label)) => {
                    self.imm32(key);
                    self.fixups.push(Fixup::TableRel {
                        at: self.out.len(),
                        label,
                        base,
                    });
                    self.imm32(0);
                }
                None => self.bytes(&[0; 8]),
            }
        }
    }

    /// Append already-compiled, position-independent code.
    pub fn copy(&mut self, code: &[u8]) {
        self.bytes(code);
    }
}
