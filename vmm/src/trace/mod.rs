//! Kernel traces on the host: finding the kernel's trace ring, draining it
//! while the guest runs (no VM exits: the VMM reads guest memory), the trace
//! file format, and `exo trace show|stats|export`.

pub mod collector;
pub mod describe;
pub mod qemu_ram;
pub mod tool;

use exo_abi::trace::Record;
use std::io::{Read, Write};

/// Trace file: this header, then records back to back.
pub const FILE_MAGIC: &[u8; 8] = b"EXOTRC01";
pub const HEADER_LEN: usize = 32;

/// What the header says besides the records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub tsc_per_ms: u64,
    pub dropped: u64,
    pub records: u64,
}

impl Header {
    pub fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(FILE_MAGIC);
        b[8..16].copy_from_slice(&self.tsc_per_ms.to_le_bytes());
        b[16..24].copy_from_slice(&self.dropped.to_le_bytes());
        b[24..32].copy_from_slice(&self.records.to_le_bytes());
        b
    }
}

pub fn record_bytes(r: &Record) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&r.tsc.to_le_bytes());
    b[8..10].copy_from_slice(&r.event.to_le_bytes());
    b[10..12].copy_from_slice(&r.env.to_le_bytes());
    b[16..24].copy_from_slice(&r.a0.to_le_bytes());
    b[24..32].copy_from_slice(&r.a1.to_le_bytes());
    b
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// The largest trace file read: 2^25 records of 32 bytes.
const MAX_FILE: u64 = 1 << 30;

/// Reads a trace file (at most `MAX_FILE` bytes).
pub fn read(input: impl Read) -> Result<(Header, Vec<Record>), String> {
    read_at_most(input, MAX_FILE)
}

fn read_at_most(input: impl Read, limit: u64) -> Result<(Header, Vec<Record>), String> {
    let all = crate::tools::bounded::take(input, limit).map_err(|e| match e {
        Some(e) => e.to_string(),
        None => format!("larger than {limit} bytes, the most a trace file may be"),
    })?;
    if all.len() < HEADER_LEN || &all[..8] != FILE_MAGIC {
        return Err("not an exo trace file (bad magic)".into());
    }
    let body = &all[HEADER_LEN..];
    if body.len() % 32 != 0 {
        return Err(format!(
            "truncated trace file: {} stray bytes after the last record",
            body.len() % 32
        ));
    }
    let header = Header {
        tsc_per_ms: u64_at(&all, 8),
        dropped: u64_at(&all, 16),
        records: (body.len() / 32) as u64,
    };
    let records = body
        .chunks_exact(32)
        .map(|c| Record {
            tsc: u64_at(c, 0),
            event: u16::from_le_bytes([c[8], c[9]]),
            env: u16::from_le_bytes([c[10], c[11]]),
            _pad: 0,
            a0: u64_at(c, 16),
            a1: u64_at(c, 24),
        })
        .collect();
    Ok((header, records))
}

/// Writes a whole trace file (tests and tools).
pub fn write(mut out: impl Write, header: &Header, records: &[Record]) -> std::io::Result<()> {
    out.write_all(&header.bytes())?;
    for r in records {
        out.write_all(&record_bytes(r))?;
    }
    Ok(())
}

/// The guest-physical address of the kernel's trace anchor, from its symbols.
pub fn anchor_address(kernel: &std::path::Path) -> Result<u64, String> {
    use elf::endian::AnyEndian;
    let data = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let file = elf::ElfBytes::<AnyEndian>::minimal_parse(&data)
        .map_err(|e| format!("{}: {e}", kernel.display()))?;
    let (symbols, strings) = file
        .symbol_table()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "{}: no symbol table (a stripped kernel cannot be traced)",
                kernel.display()
            )
        })?;
    for sym in symbols.iter() {
        if strings.get(sym.st_name as usize).ok() == Some(exo_abi::trace::ANCHOR_SYMBOL) {
            return Ok(sym.st_value.wrapping_sub(exo_abi::boot::KERNEL_BASE));
        }
    }
    Err(format!(
        "{}: no {} symbol (a kernel without tracing)",
        kernel.display(),
        exo_abi::trace::ANCHOR_SYMBOL
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_bad_files() {
        let recs = vec![Record {
            tsc: 5,
            event: 2,
            env: 3,
            _pad: 0,
            a0: 7,
            a1: 9,
        }];
        let h = Header {
            tsc_per_ms: 1000,
            dropped: 4,
            records: 1,
        };
        let mut buf = Vec::new();
        write(&mut buf, &h, &recs).unwrap();
        assert_eq!(read(&buf[..]).unwrap(), (h, recs));
        assert!(read(&b"nonsense"[..]).unwrap_err().contains("bad magic"));
        let endless = std::fs::File::open("/dev/zero").unwrap();
        assert!(read_at_most(endless, 1 << 20)
            .unwrap_err()
            .contains("the most a trace file may be"));
        assert!(read(&buf[..buf.len() - 3])
            .unwrap_err()
            .contains("truncated"));
    }
}
