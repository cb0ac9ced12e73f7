//! Reading a user's input file whole, but never more than the tool can use:
//! `/dev/zero` or a runaway file is refused with its size limit named,
//! instead of exhausting memory.

use std::io::Read;
use std::path::Path;

/// The whole of `path`, if it holds at most `limit` bytes; `what` names
/// the kind of file in the error ("filter file", "capture").
pub fn read(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    take(file, limit).map_err(|e| match e {
        Some(e) => format!("{}: {e}", path.display()),
        None => format!(
            "{}: larger than {limit} bytes, the most a {what} may be",
            path.display()
        ),
    })
}

/// Everything `input` holds, or None as the error if it is over `limit`.
pub fn take(input: impl Read, limit: u64) -> Result<Vec<u8>, Option<std::io::Error>> {
    let mut all = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut all)
        .map_err(Some)?;
    if all.len() as u64 > limit {
        return Err(None);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_input_is_refused_and_small_input_read_whole() {
        let endless = std::fs::File::open("/dev/zero").unwrap();
        assert!(matches!(take(endless, 1 << 20), Err(None)));
        assert!(read(Path::new("/dev/zero"), 4096, "capture")
            .unwrap_err()
            .contains("larger than 4096 bytes, the most a capture may be"));
        assert_eq!(take(&b"abc"[..], 3).unwrap(), b"abc");
        assert!(matches!(take(&b"abcd"[..], 3), Err(None)));
    }
}
