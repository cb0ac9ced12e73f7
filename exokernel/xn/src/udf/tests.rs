use super::asm::Asm;
use super::*;
use alloc::vec;

fn input(meta: &[u8]) -> Input<'_> {
    Input {
        segs: [meta, &[]],
        args: [0; 5],
        clock: None,
    }
}

#[test]
fn backward_jump_is_a_loop_and_refused() {
    let code = vec![
        Insn::new(Opcode::Li, 1, 0, 0, 1),
        Insn::new(Opcode::Jmp, 0, 0, 0, u32::MAX - 1),
    ];
    assert_eq!(
        verify(&code, Kind::Owns),
        Err(VerifyError::BadJump { pc: 1 })
    );
    let mut a = Asm::new();
    let l = a.label();
    a.bind(l).li(1, 1).jmp(l); // label bound before the jump: backward
    assert!(matches!(
        verify(&a.finish(), Kind::Acl),
        Err(VerifyError::BadJump { .. })
    ));
}

#[test]
fn jump_past_end_and_bad_fields_refused() {
    assert!(matches!(
        verify(&[Insn::new(Opcode::Jmp, 0, 0, 0, 5)], Kind::Owns),
        Err(VerifyError::BadJump { .. })
    ));
    assert!(matches!(
        verify(
            &[Insn {
                op: 0xee,
                a: 0,
                b: 0,
                c: 0,
                imm: 0
            }],
            Kind::Owns
        ),
        Err(VerifyError::BadOpcode { .. })
    ));
    assert!(matches!(
        verify(&[Insn::new(Opcode::Mov, 16, 0, 0, 0)], Kind::Owns),
        Err(VerifyError::BadRegister { .. })
    ));
    // owns may only read the metadata block (segment 0).
    assert!(matches!(
        verify(&[Insn::new(Opcode::Ld8, 1, 0, 1, 0)], Kind::Owns),
        Err(VerifyError::BadSegment { .. })
    ));
    assert!(verify(&[Insn::new(Opcode::Ld8, 1, 0, 1, 0)], Kind::Acl).is_ok());
}

#[test]
fn nondeterminism_only_where_allowed() {
    let t = [Insn::new(Opcode::Time, 1, 0, 0, 0)];
    assert!(matches!(
        verify(&t, Kind::Owns),
        Err(VerifyError::Forbidden { .. })
    ));
    assert!(matches!(
        verify(&t, Kind::Refcnt),
        Err(VerifyError::Forbidden { .. })
    ));
    assert!(verify(&t, Kind::Acl).is_ok() && verify(&t, Kind::Size).is_ok());
    let e = [Insn::new(Opcode::Emit, 1, 2, 3, 0)];
    assert!(matches!(
        verify(&e, Kind::Refcnt),
        Err(VerifyError::Forbidden { .. })
    ));
}

#[test]
fn loops_bounded_and_well_formed() {
    // Body writes its own index: could run forever in spirit; refused.
    let mut a = Asm::new();
    a.li(1, 4).loop_(3, 1, 4).li(3, 0).end_loop();
    assert!(matches!(
        verify(&a.finish(), Kind::Owns),
        Err(VerifyError::BadLoop { .. })
    ));
    // Nested loops refused.
    let mut a = Asm::new();
    a.loop_(3, 1, 4)
        .raw(Insn::new(Opcode::Loop, 4, 1, 0, (4 << 12) | 1))
        .li(5, 1)
        .end_loop();
    assert!(verify(&a.finish(), Kind::Owns).is_err());
    // Too slow: 4096 iterations of a 20-instruction body.
    let mut a = Asm::new();
    a.loop_(3, 1, MAX_LOOP_ITERS);
    for _ in 0..20 {
        a.addi(2, 2, 1);
    }
    a.end_loop();
    assert_eq!(verify(&a.finish(), Kind::Owns), Err(VerifyError::TooSlow));
    // A good loop sums bytes 0..8.
    let mut a = Asm::new();
    a.li(1, 8)
        .loop_(3, 1, 8)
        .ld(1, 4, 3, 0, 0)
        .alu(Opcode::Add, 2, 2, 4)
        .end_loop()
        .ret(2);
    let code = a.finish();
    verify(&code, Kind::Refcnt).unwrap();
    let meta = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
    let out = run(&code, Kind::Refcnt, &input(&meta)).unwrap();
    assert_eq!(out.ret, 36);
    assert!(out.reads.overlaps(7, 1) && !out.reads.overlaps(8, 1));
    // Run-time count above the declared bound faults.
    let mut a = Asm::new();
    a.li(1, 9).loop_(3, 1, 8).addi(2, 2, 1).end_loop().ret(2);
    assert_eq!(
        run(&a.finish(), Kind::Refcnt, &input(&meta)).unwrap_err(),
        Fault::LoopBound
    );
}

#[test]
fn loads_out_of_bounds_fault() {
    let mut a = Asm::new();
    a.li(1, 4094).ld(8, 2, 1, 0, 0).ret(2);
    let code = a.finish();
    verify(&code, Kind::Owns).unwrap();
    let meta = [0u8; 4096];
    assert_eq!(
        run(&code, Kind::Owns, &input(&meta)).unwrap_err(),
        Fault::OutOfBounds
    );
    // Negative offsets wrap to huge addresses: also out of bounds.
    let mut a = Asm::new();
    a.ld(1, 2, 0, -1, 0).ret(2);
    assert_eq!(
        run(&a.finish(), Kind::Owns, &input(&meta)).unwrap_err(),
        Fault::OutOfBounds
    );
    let mut a = Asm::new();
    a.li(1, 0).alu(Opcode::Divu, 2, 2, 1).ret(2);
    assert_eq!(
        run(&a.finish(), Kind::Owns, &input(&meta)).unwrap_err(),
        Fault::DivZero
    );
}

#[test]
fn deterministic_and_emits() {
    let mut a = Asm::new();
    a.ld(8, 1, 15, 0, 0).li(2, 3).li(3, 7).emit(1, 2, 3);
    let code = a.finish();
    verify(&code, Kind::Owns).unwrap();
    let mut meta = [0u8; 64];
    meta[..8].copy_from_slice(&100u64.to_le_bytes());
    let r1 = run(&code, Kind::Owns, &input(&meta)).unwrap();
    let r2 = run(&code, Kind::Owns, &input(&meta)).unwrap();
    assert_eq!(r1.emits, r2.emits);
    assert_eq!(
        r1.emits,
        vec![Emit {
            db: 100,
            n: 3,
            ty: 7
        }]
    );
    // Zero-length extents are refused.
    let mut a = Asm::new();
    a.emit(1, 2, 3);
    assert_eq!(
        run(&a.finish(), Kind::Owns, &input(&meta)).unwrap_err(),
        Fault::BadEmit
    );
}

#[test]
fn interpreter_survives_garbage_programs() {
    // Unverified garbage must fault or finish, never panic or hang.
    let mut x: u64 = 0x1234_5678;
    let meta = [0xa5u8; 4096];
    for _ in 0..2000 {
        let code: alloc::vec::Vec<Insn> = (0..16)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let b = x.to_le_bytes();
                Insn::decode(&b)
            })
            .collect();
        let _ = verify(&code, Kind::Owns);
        let _ = run(&code, Kind::Owns, &input(&meta));
    }
}
