//! The UDF verifier: run once when a type is imported, so the interpreter can trust
//! that every invocation terminates and that owns/refcnt cannot see anything but their
//! inputs. Termination comes from structure, not fuel: branches only go forward, and the
//! only backward edge is a `LOOP` whose iteration bound is a constant in the instruction.

use super::insn::{Insn, Opcode};
use super::{Kind, VerifyError, MAX_INSNS, MAX_LOOP_ITERS, MAX_STEPS, NREGS};
use alloc::vec::Vec;

/// Check `code` as a UDF of kind `kind`.
pub fn verify(code: &[Insn], kind: Kind) -> Result<(), VerifyError> {
    if code.len() > MAX_INSNS {
        return Err(VerifyError::TooLong);
    }
    let loops = find_loops(code)?;
    let body_of = |pc: usize| loops.iter().find(|&&(s, e)| pc >= s && pc < e).copied();
    for (pc, insn) in code.iter().enumerate() {
        let op = insn.opcode().ok_or(VerifyError::BadOpcode { pc })?;
        if insn.a as usize >= NREGS || insn.b as usize >= NREGS {
            return Err(VerifyError::BadRegister { pc });
        }
        if op.load_width().is_some() {
            if insn.c >= kind.segments() {
                return Err(VerifyError::BadSegment { pc });
            }
        } else if insn.c as usize >= NREGS {
            return Err(VerifyError::BadRegister { pc });
        }
        match op {
            Opcode::Emit if kind != Kind::Owns => return Err(VerifyError::Forbidden { pc }),
            // The one source of nondeterminism the language offers; owns/refcnt results
            // are only meaningful if rerunning them gives the same answer.
            Opcode::Time if kind.deterministic() => return Err(VerifyError::Forbidden { pc }),
            _ => {}
        }
        if op.is_branch() {
            let target = pc as u64 + 1 + insn.imm as u64;
            if target > code.len() as u64 {
                return Err(VerifyError::BadJump { pc });
            }
            let target = target as usize;
            match body_of(pc) {
                // Inside a body: stay inside it, or go to its end ("continue").
                Some((_, e)) if target > e => return Err(VerifyError::BadJump { pc }),
                Some(_) => {}
                // Outside: never land in the middle of a body (its index would be unset).
                None if loops.iter().any(|&(s, e)| target >= s && target < e) => {
                    return Err(VerifyError::BadJump { pc })
                }
                None => {}
            }
        }
    }
    if cost(code, &loops) > MAX_STEPS {
        return Err(VerifyError::TooSlow);
    }
    Ok(())
}

/// The loop bodies as [start, end), checking each loop's shape.
fn find_loops(code: &[Insn]) -> Result<Vec<(usize, usize)>, VerifyError> {
    let mut loops = Vec::new();
    let mut pc = 0;
    while pc < code.len() {
        if code[pc].opcode() == Some(Opcode::Loop) {
            let (max, len) = code[pc].loop_shape();
            let (start, end) = (pc + 1, pc + 1 + len);
            if len == 0 || max == 0 || max > MAX_LOOP_ITERS || end > code.len() {
                return Err(VerifyError::BadLoop { pc });
            }
            let idx = code[pc].a;
            for (i, insn) in code[start..end].iter().enumerate() {
                let Some(op) = insn.opcode() else {
                    return Err(VerifyError::BadOpcode { pc: start + i });
                };
                // No nesting, and the index is the body's read-only iteration counter.
                if op == Opcode::Loop || (op.writes_a() && insn.a == idx) {
                    return Err(VerifyError::BadLoop { pc });
                }
            }
            loops.push((start, end));
            pc = end;
        } else {
            pc += 1;
        }
    }
    Ok(loops)
}

/// Worst-case steps: each instruction once, loop bodies (plus the back edge) `max` times.
fn cost(code: &[Insn], loops: &[(usize, usize)]) -> u64 {
    let mut steps = code.len() as u64;
    for &(s, e) in loops {
        let (max, _) = code[s - 1].loop_shape();
        steps += (max as u64) * ((e - s) as u64 + 1);
    }
    steps
}
