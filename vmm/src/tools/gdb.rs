//! `exo gdb`: starts gdb attached to a guest's stub (`exo run --gdb`, on
//! either engine) with the kernel's symbols, and the symbols of the chosen
//! programs (each is linked at its load address, so no offsets are needed).

use clap::Args;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Args, Debug)]
pub struct GdbArgs {
    /// Where the stub listens (`exo run --gdb ADDR:PORT`).
    #[arg(default_value = "127.0.0.1:1234")]
    pub addr: String,
    /// The kernel ELF [default: the exokernel built with this exo].
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Also load the symbols of program NAME from /bin (repeatable).
    #[arg(long, value_name = "NAME")]
    pub program: Vec<String>,
    /// Extra gdb commands, run after attaching (repeatable), e.g. "hbreak kernel_main".
    #[arg(long = "ex", value_name = "CMD")]
    pub ex: Vec<String>,
}

/// The gdb command line for `args`, given the default kernel path.
pub fn command(args: &GdbArgs, default_kernel: &Path) -> Result<Command, String> {
    let kernel = args
        .kernel
        .clone()
        .unwrap_or_else(|| default_kernel.to_path_buf());
    if !kernel.is_file() {
        return Err(format!("kernel {}: not found", kernel.display()));
    }
    let programs = kernel
        .parent()
        .unwrap_or(Path::new("."))
        .join("x86_64-unknown-none/release");
    let mut c = Command::new("gdb");
    c.arg(&kernel)
        .args(["-ex", &format!("target remote {}", args.addr)]);
    for p in &args.program {
        if p.contains('/') || p.is_empty() {
            return Err(format!(
                "--program '{p}': a program name from /bin is needed"
            ));
        }
        let elf = programs.join(p);
        if !elf.is_file() {
            return Err(format!(
                "--program {p}: no such program ({})",
                elf.display()
            ));
        }
        c.args(["-ex", &format!("add-symbol-file {}", elf.display())]);
    }
    for e in &args.ex {
        c.args(["-ex", e]);
    }
    Ok(c)
}

/// Replaces this process with gdb; returns an exit status only on failure.
pub fn main(args: GdbArgs, default_kernel: &Path) -> i32 {
    match command(&args, default_kernel) {
        Ok(mut c) => {
            let e = c.exec();
            eprintln!("exo gdb: cannot start gdb: {e} (install gdb)");
            125
        }
        Err(m) => {
            eprintln!("exo gdb: {m}");
            125
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_loads_kernel_and_program_symbols() {
        let dir = std::env::temp_dir().join(format!("exo-gdb-{}", std::process::id()));
        let progs = dir.join("x86_64-unknown-none/release");
        std::fs::create_dir_all(&progs).unwrap();
        std::fs::write(dir.join("exokernel"), b"").unwrap();
        std::fs::write(progs.join("sh"), b"").unwrap();
        let args = GdbArgs {
            addr: "127.0.0.1:9000".into(),
            kernel: None,
            program: vec!["sh".into()],
            ex: vec!["hbreak kernel_main".into()],
        };
        let c = command(&args, &dir.join("exokernel")).unwrap();
        let a: Vec<String> = c.get_args().map(|s| s.to_string_lossy().into()).collect();
        let s = a.join(" ");
        assert!(s.contains("target remote 127.0.0.1:9000"), "{s}");
        assert!(
            s.contains(&format!("add-symbol-file {}", progs.join("sh").display())),
            "{s}"
        );
        assert!(s.ends_with("-ex hbreak kernel_main"), "{s}");
        let bad = GdbArgs {
            program: vec!["nope".into()],
            ..args
        };
        assert!(command(&bad, &dir.join("exokernel"))
            .unwrap_err()
            .contains("no such program"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
