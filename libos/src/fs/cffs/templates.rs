//! The C-FFS templates in UDF bytecode. owns-udfs are deterministic and
//! read nothing but pointers (and an entry's kind byte once it has any), so
//! names, sizes and headers stay writable with plain `writeb`. No type keeps
//! a reference count: every block has exactly one parent (see rename.rs).

use super::layout::*;
use alloc::vec::Vec;
use exo_xn::template::Template;
use exo_xn::udf::asm::Asm;
use exo_xn::udf::{AclOp, Insn, Opcode};
use exo_xn::TypeId;

/// Never written by these programs: a zero register.
const Z: u8 = 15;

/// The cffs type ids, in install order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Types {
    pub dir: TypeId,
    pub ind: TypeId,
    pub dind: TypeId,
    pub ind2: TypeId,
}

pub const NAMES: [&str; 4] = [DIR_TYPE, IND_TYPE, DIND_TYPE, IND2_TYPE];

impl Types {
    pub fn from_ids(ids: &[TypeId]) -> Option<Types> {
        match ids {
            &[dir, ind, dind, ind2] => Some(Types {
                dir,
                ind,
                dind,
                ind2,
            }),
            _ => None,
        }
    }
}

/// acl-uf shared by every cffs type (and the flat store): the block's owner
/// capability (offset 0) may do anything; others may only read, and only if
/// the block's mode (offset 8) is public. Data blocks are guarded by their
/// parent's acl-uf, so a file's privacy is its directory block's.
pub fn acl_code() -> Vec<Insn> {
    let mut a = Asm::new();
    let (allow, deny) = (a.label(), a.label());
    a.ld(8, 5, Z, 0, 0).jeq(5, 1, allow);
    a.li(6, AclOp::Read as u64).jne(0, 6, deny);
    a.ld(4, 7, Z, 8, 0)
        .li(8, MODE_PUBLIC as u64)
        .alu(Opcode::And, 7, 7, 8)
        .jne(7, Z, allow);
    a.bind(deny).li(9, 0).ret(9);
    a.bind(allow).li(9, 1).ret(9);
    a.finish()
}

/// Directory owns, partition p = entry p: each non-zero pointer slot, typed
/// by the entry's kind (file: data / ind2, directory: dir / dind).
fn dir_owns(t: Types) -> Vec<Insn> {
    let mut a = Asm::new();
    let (file, dir, file_ind, dir_ind, emit, cont) = (
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
    );
    a.li(2, 7)
        .alu(Opcode::Shl, 3, 0, 2)
        .addi(3, 3, HEADER as i32)
        .li(7, 3)
        .li(11, DIRECT as u64)
        .li(5, SLOTS as u64);
    a.loop_(4, 5, SLOTS as u32)
        .alu(Opcode::Shl, 6, 4, 7)
        .alu(Opcode::Add, 6, 6, 3)
        .ld(8, 8, 6, OFF_PTRS as i32, 0)
        .jeq(8, Z, cont)
        .ld(1, 9, 3, OFF_KIND as i32, 0)
        .li(10, KIND_FILE as u64)
        .jeq(9, 10, file)
        .li(10, KIND_DIR as u64)
        .jeq(9, 10, dir)
        .jmp(cont);
    a.bind(file).jeq(4, 11, file_ind);
    a.li(12, TypeId::DB.0 as u64).jmp(emit);
    a.bind(file_ind).li(12, t.ind2.0 as u64).jmp(emit);
    a.bind(dir).jeq(4, 11, dir_ind);
    a.li(12, t.dir.0 as u64).jmp(emit);
    a.bind(dir_ind).li(12, t.dind.0 as u64);
    a.bind(emit).li(13, 1).emit(8, 13, 12);
    a.bind(cont).end_loop();
    a.finish()
}

/// Directory size: bytes of used entries (a bounded loop over the kinds).
fn dir_size() -> Vec<Insn> {
    let mut a = Asm::new();
    let cont = a.label();
    a.li(1, ENTRIES as u64).li(9, 7);
    a.loop_(3, 1, ENTRIES)
        .alu(Opcode::Shl, 4, 3, 9)
        .ld(1, 5, 4, (HEADER + OFF_KIND) as i32, 0)
        .jeq(5, Z, cont)
        .addi(2, 2, ENTRY_SIZE as i32);
    a.bind(cont).end_loop();
    a.ret(2);
    a.finish()
}

/// Indirect owns, partition j = pointer j, of type `child`.
fn ind_owns(child: TypeId) -> Vec<Insn> {
    let mut a = Asm::new();
    let end = a.label();
    a.li(3, 3)
        .alu(Opcode::Shl, 4, 0, 3)
        .ld(8, 5, 4, HEADER as i32, 0)
        .jeq(5, Z, end);
    a.li(6, 1).li(7, child.0 as u64).emit(5, 6, 7);
    a.bind(end);
    a.finish()
}

pub fn templates(t: Types) -> Vec<Template> {
    let ind = |name: &str, child| Template {
        name: name.into(),
        nparts: PTRS_PER_IND as u32,
        owns: ind_owns(child),
        refcnt: Vec::new(),
        acl: acl_code(),
        size: Vec::new(),
    };
    alloc::vec![
        Template {
            name: DIR_TYPE.into(),
            nparts: ENTRIES,
            owns: dir_owns(t),
            refcnt: Vec::new(),
            acl: acl_code(),
            size: dir_size(),
        },
        ind(IND_TYPE, TypeId::DB),
        ind(DIND_TYPE, t.dir),
        ind(IND2_TYPE, t.ind),
    ]
}
