//! Device drivers the kernel owns and multiplexes (virtio over MMIO).

pub mod blk_calls;
pub mod net_calls;
pub mod virtio_blk;
pub mod virtio_mmio;
pub mod virtio_net;
mod virtq;

use crate::kprintln;
use exo_abi::boot::cmdline as keys;
use virtio_mmio::SetupError;

/// Raw device access (disk, network) needs a capability dominating the
/// device's guard, the root name, with `need`; environments without it
/// reach the disk through XN and the network through DPF.
pub fn device_cap(
    k: &crate::env::Kernel,
    cap: exo_abi::syscall::arg::CapSlot,
    need: u8,
) -> Result<(), exo_abi::syscall::Error> {
    if k.my_cap(cap)?.allows(&exo_abi::cap::Cap::ROOT, need) {
        Ok(())
    } else {
        Err(exo_abi::syscall::Error::Denied)
    }
}

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
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("virtio_mmio.device="))
        .filter_map(parse_device)
}

/// Brings up every device on the command line that we have a driver for.
pub fn probe_all(cmdline: &str) {
    for dev in devices(cmdline) {
        match virtio_blk::Blk::probe(dev) {
            Ok(blk) => {
                attach_blk(cmdline, dev, blk);
                continue;
            }
            Err(SetupError::WrongDevice(_)) => {}
            Err(e) => {
                kprintln!("exo: virtio device at {:#x} not usable: {e:?}", dev.base);
                continue;
            }
        }
        match virtio_net::Net::probe(dev) {
            Ok(net) => attach_net(cmdline, dev, net),
            Err(SetupError::WrongDevice(id)) => {
                kprintln!("exo: virtio device {id} at {:#x}: no driver", dev.base)
            }
            Err(e) => kprintln!("exo: virtio device at {:#x} not usable: {e:?}", dev.base),
        }
    }
}

fn attach_blk(cmdline: &str, dev: MmioDevice, mut blk: virtio_blk::Blk) {
    if keys::value(cmdline, keys::BLKCHECK).is_some() {
        // A boot-time read through the whole request path.
        match blk.read(0, 512) {
            Ok(d) => kprintln!(
                "exo: blkcheck: sector 0 begins {:?}",
                core::str::from_utf8(&d[..16]).unwrap_or("(binary)")
            ),
            Err(e) => kprintln!("exo: blkcheck: reading sector 0 failed: {e:?}"),
        }
    }
    crate::kinfo!(
        "exo: virtio-blk at {:#x} (irq {}): {} sectors ({} MiB)",
        dev.base,
        dev.irq,
        blk.capacity,
        blk.capacity >> 11
    );
    let mut slot = virtio_blk::BLK.lock();
    if slot.is_none() {
        *slot = Some(blk);
    }
}

fn attach_net(cmdline: &str, dev: MmioDevice, mut net: virtio_net::Net) {
    let m = net.mac;
    crate::kinfo!(
        "exo: virtio-net at {:#x} (irq {}): MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        dev.base,
        dev.irq,
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5]
    );
    if keys::value(cmdline, keys::NETCHECK).is_some() {
        // A boot-time broadcast through the whole transmit path: ethertype
        // 0x88b5 (IEEE local experimental), so no host stack answers it.
        let mut f = [0u8; 60];
        f[..6].fill(0xff);
        f[6..12].copy_from_slice(&m);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f[14..26].copy_from_slice(b"exo netcheck");
        match net.send(&f) {
            Ok(()) => kprintln!("exo: netcheck: sent a 60-byte broadcast"),
            Err(e) => kprintln!("exo: netcheck: sending failed: {e:?}"),
        }
    }
    let mut slot = virtio_net::NET.lock();
    if slot.is_none() {
        // Received packets interrupt us, so a sleeping environment wakes
        // for its packet instead of at the next tick.
        if let Err(e) = crate::arch::ioapic::route(dev.irq, crate::arch::lapic::NET_VECTOR) {
            kprintln!("exo: virtio-net interrupt not routed ({e}); polling at each tick");
        }
        *slot = Some(net);
    }
}
