//! Device drivers the kernel owns and multiplexes (virtio over MMIO).

pub mod virtio_blk;
pub mod virtio_mmio;

use crate::pvh::cmdline_value;

/// A virtio-mmio device announced on the command line as
/// `virtio_mmio.device=<size>@<base>:<irq>` (the Linux convention that
/// Firecracker and QEMU's microvm use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioDevice {
    pub base: u64,
    pub size: u64,
    pub irq: u32,
}

fn parse_num(s: &str) -> Option<u64> {
    let (digits, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let v = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    v.checked_mul(mult)
}

/// Parses one `<size>@<base>:<irq>` value.
pub fn parse_device(v: &str) -> Option<MmioDevice> {
    let (size, rest) = v.split_once('@')?;
    let (base, irq) = rest.split_once(':')?;
    Some(MmioDevice {
        size: parse_num(size)?,
        base: parse_num(base)?,
        irq: irq.parse().ok()?,
    })
}

/// Every virtio-mmio device on the command line.
pub fn devices(cmdline: &str) -> impl Iterator<Item = MmioDevice> + '_ {
    let _ = cmdline_value; // the same key=value convention
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("virtio_mmio.device="))
        .filter_map(parse_device)
}
