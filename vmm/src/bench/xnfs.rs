//! `exo bench --suite xn`: file-system operations on the library file system
//! over XN in the guest, with XN's UDF checks on and off (`exo.xn=unchecked`),
//! against the Linux host doing the same on its own file system, and a cold
//! sequential read in the guest against the host reading the same disk
//! image with O_DIRECT; all in one run.

use super::{parse_flat_json, Figure};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::Instant;

const MIB: usize = 1;
const SMALL: usize = 32;

/// Boots `exo run --disk img --init "/bin/fs_bench ARGS"` (plus `cmdline`);
/// returns the figures it printed and the engine.
fn guest(img: &str, args: &str, cmdline: &str) -> Result<(Vec<(String, f64)>, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let init = format!("/bin/fs_bench {args}");
    let out = Command::new(exe)
        .args([
            "run",
            "--disk",
            img,
            "--init",
            &init,
            "--cmdline",
            cmdline,
            "--timeout",
            "600",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the guest: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(0) {
        return Err(format!("fs_bench {args} failed:\n{stdout}{stderr}"));
    }
    let (engine, json) = super::engine_and_results(&stdout, &stderr);
    let json = json.map(parse_flat_json).unwrap_or_default();
    Ok((json, engine))
}

/// Linux: (create+write 1 KiB+fsync, cached read, unlink) in ns per file.
fn linux_small(dir: &std::path::Path) -> Result<(f64, f64, f64), String> {
    use std::io::Write;
    let data = [0x5au8; 1024];
    let name = |i: usize| dir.join(format!("s{i}"));
    let t = Instant::now();
    for i in 0..SMALL {
        let mut f = std::fs::File::create(name(i)).map_err(|e| e.to_string())?;
        f.write_all(&data).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
    }
    let create = t.elapsed().as_nanos() as f64 / SMALL as f64;
    let mut buf = [0u8; 1024];
    let t = Instant::now();
    for i in 0..SMALL {
        let mut f = std::fs::File::open(name(i)).map_err(|e| e.to_string())?;
        f.read_exact(&mut buf).map_err(|e| e.to_string())?;
    }
    let read = t.elapsed().as_nanos() as f64 / SMALL as f64;
    let t = Instant::now();
    for i in 0..SMALL {
        std::fs::remove_file(name(i)).map_err(|e| e.to_string())?;
    }
    let unlink = t.elapsed().as_nanos() as f64 / SMALL as f64;
    Ok((create, read, unlink))
}

/// Linux: ns per MiB reading `bytes` of `img` sequentially with O_DIRECT.
fn linux_direct_read(img: &std::path::Path, bytes: usize) -> Result<f64, String> {
    const CHUNK: usize = 64 * 1024;
    let layout = std::alloc::Layout::from_size_align(CHUNK, 4096).map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(img)
        .map_err(|e| format!("{}: O_DIRECT: {e}", img.display()))?;
    // SAFETY: the layout has a non-zero size; freed below with it.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return Err("out of memory".into());
    }
    // SAFETY: `p` is CHUNK zeroed bytes (aligned for O_DIRECT) that only
    // this slice uses until the dealloc below.
    let buf = unsafe { std::slice::from_raw_parts_mut(p, CHUNK) };
    let t = Instant::now();
    let mut done = 0;
    let mut r = Ok(());
    while done < bytes {
        match f.read(buf) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => {
                r = Err(format!("O_DIRECT read: {e}"));
                break;
            }
        }
    }
    let elapsed = t.elapsed().as_nanos() as f64;
    // SAFETY: allocated above with `layout`; `buf` is not used after this.
    unsafe { std::alloc::dealloc(p, layout) };
    r?;
    Ok(elapsed * (1 << 20) as f64 / done.max(1) as f64)
}

pub fn figures() -> Result<(Vec<Figure>, String), String> {
    let dir = crate::scratch::Scratch::new("bench-xn")?;
    measure(dir.path())
}

fn measure(dir: &std::path::Path) -> Result<(Vec<Figure>, String), String> {
    let img = dir.join("xn.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(64 << 20))
        .map_err(|e| e.to_string())?;
    let img_s = img.to_str().ok_or("temporary path is not UTF-8")?;
    guest(img_s, &format!("write {MIB}"), "")?;
    let (checked, engine) = guest(img_s, "run", "")?;
    let unchecked_key = format!("{}=unchecked", exo_abi::boot::cmdline::XN);
    let (unchecked, _) = guest(img_s, "run", &unchecked_key)?;
    let work = dir.join("linux");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let (l_create, l_read, l_unlink) = linux_small(&work)?;
    let l_seq = linux_direct_read(&img, MIB << 20)?;
    let get = |set: &[(String, f64)], k: &str| {
        set.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("fs_bench did not report {k}"))
    };
    let mut out = Vec::new();
    for (name, key, linux, job) in [
        (
            "xn_create_fsync",
            "xn_create_fsync",
            l_create,
            "create + write 1 KiB + fsync",
        ),
        (
            "xn_read_cached",
            "xn_read_cached",
            l_read,
            "open + read 1 KiB (page cache)",
        ),
        ("xn_unlink", "xn_unlink", l_unlink, "unlink"),
        (
            "xn_seq_read_mib",
            "xn_seq_read_mib",
            l_seq,
            "pread O_DIRECT of the same image, per MiB",
        ),
    ] {
        for (suffix, set, what) in [
            ("", &checked, "checks on"),
            ("_unchecked", &unchecked, "XN checks off"),
        ] {
            let exo_ns = get(set, key)?;
            let mut f = Figure::new(
                &format!("{name}{suffix}"),
                "ns",
                exo_ns,
                linux,
                &format!("{job} ({what} in exo)"),
            );
            // The Linux side is still this host's own file system.
            f.linux_engine = "host".into();
            out.push(f);
        }
    }
    Ok((out, engine))
}
