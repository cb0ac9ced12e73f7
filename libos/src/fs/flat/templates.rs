//! The flat store's template: one table type whose partition i is record i.

use super::layout::*;
use crate::fs::cffs::templates::acl_code;
use alloc::vec::Vec;
use exo_xn::template::Template;
use exo_xn::udf::asm::Asm;
use exo_xn::udf::Opcode;
use exo_xn::TypeId;

const Z: u8 = 15;

/// Record r0's extent, if it has blocks.
pub fn templates() -> Vec<Template> {
    let mut a = Asm::new();
    let end = a.label();
    a.li(2, 6)
        .alu(Opcode::Shl, 3, 0, 2)
        .ld(8, 4, 3, (HEADER + OFF_NBLOCKS) as i32, 0)
        .jeq(4, Z, end)
        .ld(8, 5, 3, (HEADER + OFF_START) as i32, 0)
        .li(6, TypeId::DB.0 as u64)
        .emit(5, 4, 6);
    a.bind(end);
    let owns = a.finish();
    alloc::vec![Template {
        name: TABLE_TYPE.into(),
        nparts: RECORDS,
        owns,
        refcnt: Vec::new(),
        // Same header convention as cffs: owner capability at 0, mode at 8.
        acl: acl_code(),
        size: Vec::new(),
    }]
}
