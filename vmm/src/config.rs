//! What a `exo run` boots: the engine-independent description of a guest.

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
#[derive(Debug, PartialEq, Eq)]
pub struct MemSizeError(pub String);

impl fmt::Display for MemSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MemSizeError {}

/// Parses a memory size such as `128M`, `1G`, `65536K` or a byte count.
pub fn parse_mem_size(s: &str) -> Result<u64, MemSizeError> {
    let t = s.trim();
    let number_part = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if number_part.is_empty()
        || !number_part.chars().all(|c| c.is_ascii_digit())
        || t.len() - number_part.len() > 1
    {
        return Err(MemSizeError(format!(
            "memory size '{s}' is not a number with an optional K/M/G unit"
        )));
    }
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                _ => {
                    return Err(MemSizeError(format!(
                        "memory size '{s}': unknown unit '{c}' (use K, M or G)"
                    )))
                }
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| {
        MemSizeError(format!(
            "memory size '{s}' is not a number with an optional K/M/G unit"
        ))
    })?;
    let bytes = n
        .checked_shl(shift)
        .filter(|b| b >> shift == n)
        .ok_or_else(|| MemSizeError(format!("memory size '{s}' is too large")))?;
    if bytes < MIN_MEM {
        return Err(MemSizeError(format!(
            "memory size '{s}' is too small: the kernel needs at least {} MiB",
            MIN_MEM >> 20
        )));
    }
    if bytes > MAX_MEM {
        return Err(MemSizeError(format!(
            "memory size '{s}' is too large: at most {} MiB is supported",
            MAX_MEM >> 20
        )));
    }
    if bytes % 4096 != 0 {
        return Err(MemSizeError(format!(
            "memory size '{s}' is not a multiple of 4 KiB"
        )));
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
        for bad in [
            "",
            "M",
            "12X",
            "-5M",
            "1M",
            "8G",
            "99999999999999999999G",
            "16777217",
        ] {
            assert!(parse_mem_size(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_mem_size("1M").unwrap_err().0.contains("too small"));
    }
}
