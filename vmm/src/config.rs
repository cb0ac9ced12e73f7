//! What a `exo run` boots: the engine-independent description of a guest.

use crate::size::{parse_size, SizeError};
use std::fmt;
use std::path::PathBuf;

/// Smallest guest RAM the kernel can boot in.
pub const MIN_MEM: u64 = 16 << 20;
/// Largest guest RAM: it must fit below the 32-bit MMIO hole (3 GiB).
pub const MAX_MEM: u64 = 3 << 30;
/// Guest RAM when `--mem` is not given.
pub const DEFAULT_MEM: u64 = 128 << 20;

/// A guest to boot, identical for every engine.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// PVH ELF kernel image.
    pub kernel: PathBuf,
    /// Initial ramdisk (cpio newc archive of programs), if any.
    pub initrd: Option<PathBuf>,
    /// Guest RAM in bytes, within `MIN_MEM..=MAX_MEM`, a multiple of 4 KiB.
    pub mem_bytes: u64,
    /// Kernel command line.
    pub cmdline: String,
    /// Raw disk images for virtio-blk.
    pub disks: Vec<Disk>,
    /// virtio-net devices on TAP interfaces.
    pub nets: Vec<NetDev>,
    /// Where a gdb remote stub listens; the guest then waits for gdb at start.
    pub gdb: Option<std::net::SocketAddr>,
    /// Where to write the kernel's trace records, if tracing.
    pub trace: Option<PathBuf>,
    /// QEMU only: count instructions (`-icount shift=0,sleep=off`), so that
    /// guest time advances one nanosecond per instruction, deterministically.
    pub icount: bool,
}

/// A `--disk PATH[,readonly]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub readonly: bool,
}

/// Parses `PATH[,readonly]`.
pub fn parse_disk(s: &str) -> Result<Disk, String> {
    let mut parts = s.split(',');
    let path = parts
        .next()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("--disk '{s}': a path is needed"))?;
    let mut readonly = false;
    for opt in parts {
        match opt {
            "readonly" | "ro" => readonly = true,
            other => {
                return Err(format!(
                    "--disk '{s}': unknown option '{other}' (known: readonly)"
                ))
            }
        }
    }
    Ok(Disk {
        path: PathBuf::from(path),
        readonly,
    })
}

/// A `--net tap=NAME[,mac=MAC]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetDev {
    pub tap: String,
    /// None: the engine's default (52:54:00:12:34:56, last byte + index).
    pub mac: Option<[u8; 6]>,
}

impl NetDev {
    /// The MAC of the `index`th network device.
    pub fn mac_or_default(&self, index: usize) -> [u8; 6] {
        self.mac.unwrap_or([
            0x52,
            0x54,
            0x00,
            0x12,
            0x34,
            0x56u8.wrapping_add(index as u8),
        ])
    }
}

/// Formats a MAC address the usual way.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Parses `tap=NAME[,mac=aa:bb:cc:dd:ee:ff]`.
pub fn parse_net(s: &str) -> Result<NetDev, String> {
    let mut tap = None;
    let mut mac = None;
    for opt in s.split(',') {
        match opt.split_once('=') {
            Some(("tap", name)) => {
                if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
                    return Err(format!(
                        "--net '{s}': '{name}' is not an interface name (1 to 15 characters)"
                    ));
                }
                tap = Some(name.to_string());
            }
            Some(("mac", m)) => {
                let parsed = exo_devices::virtio::net::parse_mac(m).ok_or_else(|| {
                    format!("--net '{s}': '{m}' is not a MAC like 52:54:00:12:34:56")
                })?;
                if parsed[0] & 1 != 0 {
                    return Err(format!("--net '{s}': {m} is a multicast address"));
                }
                mac = Some(parsed);
            }
            _ => {
                return Err(format!(
                    "--net '{s}': unknown option '{opt}' (known: tap=NAME, mac=MAC)"
                ))
            }
        }
    }
    let tap = tap.ok_or_else(|| format!("--net '{s}': tap=NAME is needed"))?;
    Ok(NetDev { tap, mac })
}

/// A `--mem` value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemSizeError {
    /// Not a size at all.
    Size(SizeError),
    /// Below `MIN_MEM`; the text given.
    TooSmall(String),
    /// Above `MAX_MEM`; the text given.
    TooLarge(String),
    /// Not a whole number of 4 KiB pages; the text given.
    NotPageMultiple(String),
}

impl fmt::Display for MemSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemSizeError::Size(e) => write!(f, "memory size {e}"),
            MemSizeError::TooSmall(s) => write!(
                f,
                "memory size '{s}' is too small: the kernel needs at least {} MiB",
                MIN_MEM >> 20
            ),
            MemSizeError::TooLarge(s) => write!(
                f,
                "memory size '{s}' is too large: at most {} MiB is supported",
                MAX_MEM >> 20
            ),
            MemSizeError::NotPageMultiple(s) => {
                write!(f, "memory size '{s}' is not a multiple of 4 KiB")
            }
        }
    }
}

// Display already says what a `Size` error says: no `source`.
impl std::error::Error for MemSizeError {}

/// Parses a guest memory size such as `128M`, `1G`, `65536K` or a byte
/// count, within `MIN_MEM..=MAX_MEM` and a multiple of 4 KiB.
pub fn parse_mem_size(s: &str) -> Result<u64, MemSizeError> {
    let bytes = match parse_size(s) {
        Ok(bytes) => bytes,
        Err(SizeError::Overflow(_)) => return Err(MemSizeError::TooLarge(s.to_string())),
        Err(e) => return Err(MemSizeError::Size(e)),
    };
    if bytes < MIN_MEM {
        return Err(MemSizeError::TooSmall(s.to_string()));
    }
    if bytes > MAX_MEM {
        return Err(MemSizeError::TooLarge(s.to_string()));
    }
    if bytes % 4096 != 0 {
        return Err(MemSizeError::NotPageMultiple(s.to_string()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_mem_size("128M"), Ok(128 << 20));
        assert_eq!(parse_mem_size("1g"), Ok(1 << 30));
        assert_eq!(parse_mem_size("32768K"), Ok(32 << 20));
        assert_eq!(parse_mem_size("16777216"), Ok(16 << 20));
    }

    #[test]
    fn parses_disks() {
        assert_eq!(
            parse_disk("a.img"),
            Ok(Disk {
                path: "a.img".into(),
                readonly: false
            })
        );
        assert_eq!(
            parse_disk("a.img,readonly"),
            Ok(Disk {
                path: "a.img".into(),
                readonly: true
            })
        );
        assert!(parse_disk("").unwrap_err().contains("a path is needed"));
        assert!(parse_disk("a.img,rw")
            .unwrap_err()
            .contains("unknown option 'rw'"));
    }

    #[test]
    fn parses_nets() {
        assert_eq!(
            parse_net("tap=exo0"),
            Ok(NetDev {
                tap: "exo0".into(),
                mac: None
            })
        );
        let n = parse_net("tap=t1,mac=02:00:00:00:00:01").unwrap();
        assert_eq!(n.mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(mac_string(n.mac_or_default(3)), "02:00:00:00:00:01");
        assert_eq!(
            mac_string(parse_net("tap=t").unwrap().mac_or_default(1)),
            "52:54:00:12:34:57"
        );
        for (bad, why) in [
            ("", "unknown option"),
            ("mac=02:00:00:00:00:01", "tap=NAME is needed"),
            ("tap=", "not an interface name"),
            ("tap=averyveryverylongname", "not an interface name"),
            ("tap=t,mac=zz", "not a MAC"),
            ("tap=t,mac=01:00:5e:00:00:01", "multicast"),
            ("tap=t,speed=10", "unknown option 'speed=10'"),
        ] {
            let e = parse_net(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        let size = |s: &str| parse_mem_size(s).unwrap_err();
        for bad in ["", "M", "-5M"] {
            assert_eq!(
                size(bad),
                MemSizeError::Size(SizeError::NotANumber(bad.into()))
            );
        }
        assert!(matches!(
            size("12X"),
            MemSizeError::Size(SizeError::UnknownUnit { .. })
        ));
        assert_eq!(size("1M"), MemSizeError::TooSmall("1M".into()));
        for big in ["8G", "1T", "99999999999999999999G"] {
            assert_eq!(size(big), MemSizeError::TooLarge(big.into()));
        }
        assert_eq!(
            size("16777217"),
            MemSizeError::NotPageMultiple("16777217".into())
        );
        assert!(size("1M").to_string().contains("too small"));
    }
}
