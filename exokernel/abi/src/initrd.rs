//! The initrd: a cpio "newc" archive of programs. Parsed defensively: a
//! malformed archive yields "not found", never a fault.

/// Finds `path` (leading '/' optional) in the archive.
pub fn find<'a>(archive: &'a [u8], path: &str) -> Option<&'a [u8]> {
    entries(archive)
        .find(|(name, _)| *name == path.trim_start_matches('/'))
        .map(|(_, data)| data)
}

/// Iterates over `(name, contents)` of the archive's entries.
pub fn entries(archive: &[u8]) -> impl Iterator<Item = (&str, &[u8])> {
    let mut off = 0usize;
    core::iter::from_fn(move || {
        let (name, data, next) = entry(archive, off)?;
        off = next;
        (name != "TRAILER!!!").then_some((name, data))
    })
}

fn hex(field: &[u8]) -> Option<usize> {
    let s = core::str::from_utf8(field).ok()?;
    usize::from_str_radix(s, 16).ok()
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|x| x & !3)
}

fn entry(a: &[u8], off: usize) -> Option<(&str, &[u8], usize)> {
    const HEADER: usize = 110;
    let h = a.get(off..off.checked_add(HEADER)?)?;
    if &h[..6] != b"070701" {
        return None;
    }
    let filesize = hex(&h[54..62])?;
    let namesize = hex(&h[94..102])?;
    let name_start = off + HEADER;
    let name = a.get(name_start..name_start.checked_add(namesize)?.checked_sub(1)?)?;
    // A name may be padded with NULs (to align the data after it).
    let name = name.split(|&b| b == 0).next()?;
    let data_start = align4(name_start + namesize)?;
    let data = a.get(data_start..data_start.checked_add(filesize)?)?;
    let next = align4(data_start + filesize)?;
    Some((core::str::from_utf8(name).ok()?, data, next))
}
