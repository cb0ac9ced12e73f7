//! Which programs are exo's own: every program built with the library OS
//! carries an ELF note (name "exo", type [`NOTE_TYPE`]) in a PT_NOTE
//! segment. Any other executable (an unmodified Linux program) runs under
//! the Linux personality's runner, [`LINUX_RUNNER`]. Parsed defensively: a
//! malformed image is simply "not ours".

/// The note's name and type.
pub const NOTE_NAME: &[u8; 4] = b"exo\0";
pub const NOTE_TYPE: u32 = 0x6578_6f31;

/// The program that runs Linux executables (`linux PATH ARGS...`).
pub const LINUX_RUNNER: &str = "/bin/linux";

const PT_NOTE: u32 = 4;

/// Little-endian fields of an image, `None` past its end (for every ELF
/// reader of exo's, host and guest).
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Whether `image` is an ELF executable built with exo's library OS.
pub fn is_exo_program(image: &[u8]) -> bool {
    has_note(image).unwrap_or(false)
}

/// Whether `image` is a 64-bit ELF file at all.
pub fn is_elf64(image: &[u8]) -> bool {
    image.len() >= 64 && image[..4] == *b"\x7fELF" && image[4] == 2
}

fn has_note(image: &[u8]) -> Option<bool> {
    if !is_elf64(image) {
        return Some(false);
    }
    let phoff = u64_at(image, 32)? as usize;
    let phentsize = u16_at(image, 54)? as usize;
    let phnum = u16_at(image, 56)? as usize;
    for i in 0..phnum.min(64) {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(image, ph)? != PT_NOTE {
            continue;
        }
        let (off, size) = (
            u64_at(image, ph + 8)? as usize,
            u64_at(image, ph + 32)? as usize,
        );
        let notes = image.get(off..off.checked_add(size)?)?;
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) = (
                u32_at(notes, at)? as usize,
                u32_at(notes, at + 4)? as usize,
                u32_at(notes, at + 8)?,
            );
            let name = notes.get(at + 12..at + 12 + namesz)?;
            if kind == NOTE_TYPE && name == NOTE_NAME {
                return Some(true);
            }
            at += 12 + namesz.next_multiple_of(4) + descsz.next_multiple_of(4);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// A minimal ELF header and one PT_NOTE program header over `notes`.
    fn elf_with(notes: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 64 + 56];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        e[64..68].copy_from_slice(&PT_NOTE.to_le_bytes());
        e[72..80].copy_from_slice(&120u64.to_le_bytes());
        e[96..104].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        e.extend_from_slice(notes);
        e
    }

    fn note(name: &[u8], kind: u32) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend_from_slice(&1u32.to_le_bytes());
        n
    }

    #[test]
    fn finds_the_note_among_others() {
        let mut notes = note(b"GNU\0", 3);
        notes.extend(note(NOTE_NAME, NOTE_TYPE));
        assert!(is_exo_program(&elf_with(&notes)));
        assert!(!is_exo_program(&elf_with(&note(b"GNU\0", 3))));
    }

    #[test]
    fn malformed_images_are_not_ours() {
        assert!(!is_exo_program(b"\x7fELF"));
        assert!(!is_exo_program(&[0; 200]));
        let mut e = elf_with(&note(NOTE_NAME, NOTE_TYPE));
        e[96..104].copy_from_slice(&u64::MAX.to_le_bytes()); // note size past the end
        assert!(!is_exo_program(&e));
        e[56..58].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(!is_exo_program(&e));
    }
}
