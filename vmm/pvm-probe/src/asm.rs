//! Guest code: AT&T-syntax assembly turned into flat binaries by binutils.

use crate::layout::*;
use crate::Res;
use std::path::PathBuf;
use std::process::Command;

/// rdtsc into %rax (clobbers %rdx).
pub const RDTSC: &str = "lfence\nrdtsc\nshl $32, %rdx\nor %rdx, %rax\n";

/// A loop of `n` `dec; jnz` iterations, with the TSC before it stored at
/// `start` and after it at `end` (clobbers %rax, %rcx, %rdx).
pub fn timed_loop(n: u32, start: &str, end: &str) -> String {
    format!(
        "{RDTSC}    mov %rax, {start}\n    mov ${n}, %ecx\n1:  dec %ecx\n    jnz 1b\n\
         {RDTSC}    mov %rax, {end}"
    )
}

pub fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvm-probe-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Assembles AT&T-syntax `src` into a flat binary loaded at `base`.
pub fn assemble(name: &str, base: u64, src: &str) -> Res<Vec<u8>> {
    let dir = tmpdir();
    let s = dir.join(format!("{name}.s"));
    let o = dir.join(format!("{name}.o"));
    let b = dir.join(format!("{name}.bin"));
    let prelude = format!(
        ".set RES, {RES:#x}\n.set PVCS, {PVCS:#x}\n.set SUP_STACK, {SUP_STACK:#x}\n\
         .set USER_STACK, {USER_STACK:#x}\n.set USER_CODE, {USER_CODE:#x}\n\
         .set SUP_CODE, {SUP_CODE:#x}\n.text\n.globl _start\n_start:\n"
    );
    std::fs::write(&s, prelude + src).map_err(|e| e.to_string())?;
    let run = |cmd: &mut Command| -> Res<()> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(Command::new("as").arg("--64").arg("-o").arg(&o).arg(&s))?;
    run(Command::new("ld")
        .arg("-N")
        .arg(format!("-Ttext={base:#x}"))
        .arg("--oformat=binary")
        .arg("-o")
        .arg(&b)
        .arg(&o))?;
    std::fs::read(&b).map_err(|e| e.to_string())
}
