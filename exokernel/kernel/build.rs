//! Links with linker.ld and generates the 256 trap entry stubs.
use std::fmt::Write;
use std::path::PathBuf;

/// Exceptions for which the CPU pushes an error code.
const HAS_ERROR_CODE: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!(
        "cargo:rustc-link-arg-bins=-T{}",
        dir.join("linker.ld").display()
    );
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");

    let mut s = String::from(".section .text.trap_stubs, \"ax\"\n");
    for v in 0..256u32 {
        writeln!(s, ".balign 16\ntrap_stub_{v}:").unwrap();
        if !HAS_ERROR_CODE.contains(&(v as u8)) {
            s.push_str("    push 0\n");
        }
        writeln!(s, "    push {v}\n    jmp trap_common").unwrap();
    }
    s.push_str(".section .rodata.trap_stub_table, \"a\"\n.balign 8\n.global trap_stub_table\ntrap_stub_table:\n");
    for v in 0..256 {
        writeln!(s, "    .quad trap_stub_{v}").unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("trap_stubs.s");
    std::fs::write(out, s).unwrap();
}
