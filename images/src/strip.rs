//! Programs are built with full debug information (for `exo gdb
//! --program`); the copies packed into the initrd leave it out, so the
//! guest loads what it runs and no more.

use object::build::elf::Builder;

/// `elf` without its `.debug_*` sections (symbols stay, for backtraces).
pub fn debug_info(elf: &[u8]) -> Result<Vec<u8>, String> {
    let mut b = Builder::read(elf).map_err(|e| format!("not an ELF the builder reads: {e}"))?;
    for s in b.sections.iter_mut() {
        if s.name.as_slice().starts_with(b".debug_") {
            s.delete = true;
        }
    }
    let mut out = Vec::new();
    b.write(&mut out)
        .map_err(|e| format!("cannot write the stripped ELF: {e}"))?;
    Ok(out)
}
