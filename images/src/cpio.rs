//! Writer of cpio "newc" archives, the initrd format (the kernel reads them
//! with `exo_abi::initrd`).

/// Size of a page, to which exo's initrd aligns each program's bytes.
const PAGE: usize = 4096;

/// Appends one entry of `mode` (a regular file or a directory) to `out`.
/// `align` asks that its data start at a multiple of `align` bytes into the
/// archive, done by padding its name with NULs (readers end a name at its
/// first NUL; newc aligns data to 4 bytes only).
fn push_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8], align: usize) {
    const HEADER: usize = 110;
    let bare = out.len() + HEADER + name.len() + 1;
    let namesize = name.len() + 1 + (bare.next_multiple_of(align) - bare);
    let fields = [
        ino,
        mode,
        0,
        0,
        1,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        namesize as u32,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.resize(out.len() + namesize - name.len(), 0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Like `archive`, with an entry for every parent directory before its
/// files: Linux's initramfs unpacker creates no directory by itself.
pub fn archive_with_dirs(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut dirs: Vec<&str> = Vec::new();
    for (name, _) in files {
        let name = name.trim_start_matches('/');
        for (i, _) in name.match_indices('/') {
            if !dirs.contains(&&name[..i]) {
                dirs.push(&name[..i]);
            }
        }
    }
    let mut out = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        push_entry(&mut out, i as u32 + 1, d, 0o040755, &[], 4);
    }
    for (i, (name, data)) in files.iter().enumerate() {
        let ino = (dirs.len() + i) as u32 + 1;
        push_entry(
            &mut out,
            ino,
            name.trim_start_matches('/'),
            0o100755,
            data,
            4,
        );
    }
    push_entry(&mut out, 0, "TRAILER!!!", 0, &[], 4);
    out
}

/// Builds an archive of `(path, contents)` files, paths without leading '/'.
/// Each program's (ELF file's) bytes start on a page boundary, so that its
/// pages, which the kernel makes public, can be mapped where its segments
/// go (their file offsets and addresses agree modulo the page size).
pub fn archive(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        let align = if data.starts_with(b"\x7fELF") {
            PAGE
        } else {
            4
        };
        let name = name.trim_start_matches('/');
        push_entry(&mut out, i as u32 + 1, name, 0o100755, data, align);
    }
    push_entry(&mut out, 0, "TRAILER!!!", 0, &[], 4);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use exo_abi::initrd;

    #[test]
    fn round_trips_through_the_kernel_reader() {
        let files = vec![
            ("bin/init".to_string(), b"\x7fELF init".to_vec()),
            ("bin/x".to_string(), vec![]),
            ("etc/motd".to_string(), b"odd length!".to_vec()),
        ];
        let a = archive(&files);
        assert_eq!(initrd::find(&a, "/bin/init"), Some(&b"\x7fELF init"[..]));
        assert_eq!(initrd::find(&a, "bin/x"), Some(&b""[..]));
        assert_eq!(initrd::find(&a, "etc/motd"), Some(&b"odd length!"[..]));
        assert_eq!(initrd::find(&a, "bin/none"), None);
        assert_eq!(initrd::entries(&a).count(), 3);
    }

    #[test]
    fn programs_start_on_a_page() {
        let files = vec![
            ("etc/motd".to_string(), b"odd".to_vec()),
            ("bin/a".to_string(), b"\x7fELF a".to_vec()),
            ("bin/b".to_string(), b"\x7fELF b".to_vec()),
        ];
        let a = archive(&files);
        for (path, want) in [("bin/a", &b"\x7fELF a"[..]), ("bin/b", b"\x7fELF b")] {
            let got = initrd::find(&a, path).unwrap();
            assert_eq!(got, want);
            assert_eq!((got.as_ptr() as usize - a.as_ptr() as usize) % PAGE, 0);
        }
        let names: Vec<&str> = initrd::entries(&a).map(|e| e.0).collect();
        assert_eq!(names, ["etc/motd", "bin/a", "bin/b"]);
    }

    #[test]
    fn directories_come_before_their_files() {
        let files = vec![
            ("init".to_string(), b"i".to_vec()),
            ("bin/busybox".to_string(), b"bb".to_vec()),
            ("usr/lib/x".to_string(), b"x".to_vec()),
        ];
        let a = archive_with_dirs(&files);
        let text = String::from_utf8_lossy(&a);
        let at = |n: &str| text.find(&format!("{n}\0")).unwrap();
        assert!(at("bin") < at("bin/busybox"));
        assert!(at("usr") < at("usr/lib") && at("usr/lib") < at("usr/lib/x"));
        // Directory entries carry mode 040755.
        let dir_header = &a[..110];
        assert_eq!(&dir_header[14..22], b"000041ed");
        assert_eq!(initrd::find(&a, "bin/busybox"), Some(&b"bb"[..]));
    }

    #[test]
    fn malformed_archives_find_nothing() {
        let a = archive(&[("bin/init".to_string(), vec![1; 100])]);
        for cut in [0, 5, 109, 112, 150, a.len() - 1] {
            let _ = initrd::find(&a[..cut], "bin/init"); // must not panic
        }
        assert_eq!(initrd::find(&a[..150], "bin/init"), None);
        let mut bad = a.clone();
        bad[54..62].copy_from_slice(b"ffffffff"); // absurd file size
        assert_eq!(initrd::find(&bad, "bin/init"), None);
        bad[94..102].copy_from_slice(b"00000000"); // zero name size
        assert_eq!(initrd::find(&bad, "bin/init"), None);
        assert_eq!(initrd::find(b"garbage", "bin/init"), None);
    }
}
