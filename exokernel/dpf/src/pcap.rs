//! A reader for classic pcap captures (not pcapng), for the host tool: the 24-byte file
//! header, then records of a 16-byte header and the captured bytes.

use core::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcapError {
    TooShort,
    BadMagic(u32),
    Truncated { record: usize },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::TooShort => write!(f, "not a pcap file (shorter than its header)"),
            PcapError::BadMagic(0x0a0d_0d0a) => {
                write!(f, "pcapng is not supported; convert with `editcap -F pcap`")
            }
            PcapError::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
            PcapError::Truncated { record } => write!(f, "record {record} is truncated"),
        }
    }
}

/// The records of a capture, in order.
pub struct Pcap<'a> {
    data: &'a [u8],
    big_endian: bool,
    /// The link type (1: Ethernet).
    pub link_type: u32,
    pos: usize,
    record: usize,
}

fn u32_at(d: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

impl<'a> Pcap<'a> {
    pub fn new(data: &'a [u8]) -> Result<Pcap<'a>, PcapError> {
        let magic = u32_at(data, 0, false).ok_or(PcapError::TooShort)?;
        let big_endian = match magic {
            0xa1b2_c3d4 | 0xa1b2_3c4d => false,
            0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
            m => return Err(PcapError::BadMagic(m)),
        };
        let link_type = u32_at(data, 20, big_endian).ok_or(PcapError::TooShort)?;
        Ok(Pcap {
            data,
            big_endian,
            link_type,
            pos: 24,
            record: 0,
        })
    }
}

impl<'a> Iterator for Pcap<'a> {
    type Item = Result<&'a [u8], PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        self.record += 1;
        let bad = PcapError::Truncated {
            record: self.record,
        };
        let Some(len) = u32_at(self.data, self.pos + 8, self.big_endian) else {
            self.pos = self.data.len();
            return Some(Err(bad));
        };
        let start = self.pos + 16;
        let Some(pkt) = start
            .checked_add(len as usize)
            .and_then(|end| self.data.get(start..end))
        else {
            self.pos = self.data.len();
            return Some(Err(bad));
        };
        self.pos = start + pkt.len();
        Some(Ok(pkt))
    }
}
