//! `exo bench --suite xn`: file-system operations on the library file system
//! over XN in exo, with XN's UDF checks on and off (`exo.xn=unchecked`),
//! against the Linux guest doing the same on ext4 on a virtio-blk disk of
//! the same size, on the same engine; all in one run.

use super::{parse_flat_json, Figure, Options};
use crate::engine::Engine;
use std::process::{Command, Stdio};

const MIB: usize = 1;
/// Both disks' size.
const DISK_BYTES: u64 = super::linux_guest::EXT4_DISK_BYTES;

/// Boots `exo run --disk img --init "/bin/fs_bench ARGS"` (plus `cmdline`);
/// returns the figures it printed and the engine.
fn guest(
    img: &str,
    args: &str,
    cmdline: &str,
    opts: &Options,
) -> Result<(Vec<(String, f64)>, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let init = format!("/bin/fs_bench {args}");
    let mut cmd = Command::new(exe);
    cmd.arg("run");
    if opts.icount {
        cmd.arg("--icount");
    }
    let out = cmd
        .args(["--engine", super::engine_arg(opts.engine)])
        .args([
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

pub fn figures(opts: &Options) -> Result<(Vec<Figure>, String), String> {
    let dir = crate::scratch::Scratch::new("bench-xn")?;
    measure(dir.path(), opts)
}

/// A blank disk image of `DISK_BYTES`.
fn blank(path: &std::path::Path) -> Result<(), String> {
    std::fs::File::create(path)
        .and_then(|f| f.set_len(DISK_BYTES))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn measure(dir: &std::path::Path, opts: &Options) -> Result<(Vec<Figure>, String), String> {
    let img = dir.join("xn.img");
    blank(&img)?;
    let img_s = img.to_str().ok_or("temporary path is not UTF-8")?;
    guest(img_s, &format!("write {MIB}"), "", opts)?;
    let (checked, engine) = guest(img_s, "run", "", opts)?;
    let unchecked_key = format!("{}=unchecked", exo_abi::boot::cmdline::XN);
    let (unchecked, _) = guest(img_s, "run", &unchecked_key, opts)?;
    let engine_kind = match engine.as_str() {
        "kvm" => Engine::Kvm,
        "qemu" => Engine::Qemu,
        other => return Err(format!("fs_bench ran on an unknown engine '{other}'")),
    };
    let ext4 = dir.join("ext4.img");
    super::linux_guest::ext4_image(&ext4)?;
    let kernel = match &opts.linux_kernel {
        Some(k) => k.clone(),
        None => super::linux_guest::debian_kernel()?,
    };
    let linux = super::linux_guest::run_with_disk(
        &kernel,
        engine_kind,
        opts.icount,
        &["files"],
        Some(&ext4),
    )?;
    let get = |set: &[(String, f64)], k: &str, who: &str| {
        set.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("{who} did not report {k}"))
    };
    // Waiting for the disk under -icount advances guest time to the next
    // timer, not by instructions.
    let unit = if opts.icount { "virtual ns" } else { "ns" };
    let mut out = Vec::new();
    for (name, linux_key, job) in [
        (
            "xn_create_fsync",
            "fs_create_fsync",
            "ext4: create + write 1 KiB + fsync",
        ),
        (
            "xn_read_cached",
            "fs_read_cached",
            "ext4: open + read 1 KiB (page cache)",
        ),
        ("xn_unlink", "fs_unlink", "ext4: unlink"),
        (
            "xn_seq_read_mib",
            "fs_seq_read_mib",
            "ext4: cold sequential read (caches dropped), per MiB",
        ),
    ] {
        let linux_value = get(&linux, linux_key, "the Linux guest")?;
        for (suffix, set, what) in [
            ("", &checked, "checks on"),
            ("_unchecked", &unchecked, "XN checks off"),
        ] {
            let mut f = Figure::new(
                &format!("{name}{suffix}"),
                unit,
                get(set, name, "fs_bench")?,
                linux_value,
                &format!("{job} ({what} in exo)"),
            );
            f.exo_engine = engine.clone();
            f.linux_engine = engine.clone();
            out.push(f);
        }
    }
    Ok((out, engine))
}
