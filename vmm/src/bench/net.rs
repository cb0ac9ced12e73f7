//! `exo bench --suite net`: HTTP requests per second for 1, 10 and 100 KB
//! documents, from `wrk` in a namespace of our own against httpd in exo's
//! guest (documents on the XN disk, served over DPF and the library TCP
//! stack, copying or XIO) and, in the same run, against Debian's nginx in
//! the Linux guest on the same engine with the same network device,
//! serving the same bytes. Figures are ns per request (1e9 / requests per
//! second).

use super::Figure;
use crate::netns::{NetNs, GUEST_IP, TAP};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOCS: [(&str, usize); 3] = [
    ("1k.bin", 1024),
    ("10k.bin", 10 * 1024),
    ("100k.bin", 100 * 1024),
];
const CONNECTIONS: &str = "8";
const SECONDS: &str = "5s";

/// Why the suite cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    crate::netns::unavailable(&["ip", "wrk", "ldd"])
}

/// Requests per second that `wrk` reports for `url`, from inside `ns`.
fn wrk(ns: &NetNs, url: &str) -> Result<f64, String> {
    let out = ns.run(&["wrk", "-t1", "-c", CONNECTIONS, "-d", SECONDS, url])?;
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("wrk printed no rate for {url}:\n{out}"))
}

/// How long a guest that printed its ready line may take to answer on the
/// network: on a loaded host a TCG guest can miss the first ARP requests.
const REACHABLE: Duration = Duration::from_secs(60);

/// Waits until a one-connection `wrk` of one second gets answers from
/// `url`, so that a guest still slow to answer ARP costs time, not the run.
fn wait_reachable(ns: &NetNs, url: &str) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match ns.run(&["wrk", "-t1", "-c1", "-d1s", url]) {
            Ok(out) if out.contains("Requests/sec:") => return Ok(()),
            Ok(out) | Err(out) if start.elapsed() > REACHABLE => {
                return Err(format!("{url} not reachable within {REACHABLE:?}: {out}"))
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Waits until `child`'s stdout shows `needle`.
fn wait_for(child: &mut Child, needle: &str, timeout: Duration) -> Result<(), String> {
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(seen.clone());
        }
    });
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(seen) = rx.recv_timeout(Duration::from_millis(200)) {
            if seen.contains(needle) {
                return Ok(());
            }
        }
        if let Ok(Some(s)) = child.try_wait() {
            return Err(format!("exited ({s}) before '{needle}'"));
        }
    }
    Err(format!("no '{needle}' within {timeout:?}"))
}

pub fn figures(opts: &super::Options) -> Result<(Vec<Figure>, String), String> {
    let dir = crate::scratch::Scratch::new("bench-www")?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    measure(dir.path(), &www, super::engine_arg(opts.engine))
}

/// Requests per second of each document from a guest started by `exo run
/// --net TAP ARGS...` once it prints `ready`, and the engine it ran on;
/// `marker` is an argument unique to this guest, to find its QEMU by.
fn guest_rates(
    ns: &NetNs,
    exe_s: &str,
    engine: &str,
    args: &[&str],
    ready: &str,
    marker: &str,
) -> Result<(Vec<f64>, String), String> {
    let net = format!("tap={TAP}");
    let mut cmd = vec![
        exe_s,
        "run",
        "--net",
        &net,
        "--timeout",
        "600",
        "--engine",
        engine,
    ];
    cmd.extend_from_slice(args);
    let mut guest = ns
        .command(&cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the guest: {e}"))?;
    let mut engine = String::new();
    if let Some(err) = guest.stderr.take() {
        // exo names the engine before the guest boots; then drain the rest.
        let mut lines = std::io::BufReader::new(err);
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut lines, &mut line).unwrap_or(0) > 0 {
            if let Some(e) = line.trim_end().strip_prefix("exo: engine: ") {
                engine = e.to_string();
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    }
    let stop_guest = |g: &mut Child| {
        let _ = Command::new("pkill")
            .args(["-f", &format!("qemu-system-x86_64.*{marker}")])
            .status();
        let _ = g.kill();
        let _ = g.wait();
    };
    if let Err(e) = wait_for(&mut guest, ready, Duration::from_secs(300)) {
        stop_guest(&mut guest);
        return Err(format!("{} in the guest: {e}", args.join(" ")));
    }
    if let Err(e) = wait_reachable(ns, &format!("http://{GUEST_IP}/{}", DOCS[0].0)) {
        stop_guest(&mut guest);
        return Err(e);
    }
    let mut exo = Vec::new();
    for (name, _) in DOCS {
        match wrk(ns, &format!("http://{GUEST_IP}/{name}")) {
            Ok(r) => exo.push(r),
            Err(e) => {
                stop_guest(&mut guest);
                return Err(e);
            }
        }
    }
    stop_guest(&mut guest);
    Ok((exo, engine))
}

fn measure(
    dir: &std::path::Path,
    www: &std::path::Path,
    engine: &str,
) -> Result<(Vec<Figure>, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let img = dir.join("www.img");
    let img_s = img
        .to_str()
        .ok_or("temporary path is not UTF-8")?
        .to_string();
    let mut mkfs = Command::new(&exe);
    mkfs.args(["xn", "mkfs", &img_s, "--size", "8M", "--root", "www"]);
    for (name, size) in DOCS {
        let data: Vec<u8> = (0..size).map(|i| (i * 31) as u8).collect();
        std::fs::write(www.join(name), data).map_err(|e| e.to_string())?;
        mkfs.arg("--add").arg(www.join(name));
    }
    let o = mkfs.output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "exo xn mkfs: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let kernel = super::linux_guest::debian_kernel()?;
    let initramfs = super::nginx_guest::initramfs(&kernel)?;
    let (kernel_s, initramfs_s) = (
        kernel.display().to_string(),
        initramfs.display().to_string(),
    );
    let ns = NetNs::create("net")?;
    let exe_s = exe.to_str().ok_or("exo's path is not UTF-8")?;
    let exo_guest = |init: &str| {
        let args = ["--disk", img_s.as_str(), "--init", init];
        guest_rates(&ns, exe_s, engine, &args, "httpd: serving", &img_s)
    };
    let (exo, exo_engine) = exo_guest("/bin/httpd")?;
    let (xio, _) = exo_guest("/bin/httpd --xio")?;
    let serve = super::nginx_guest::init(GUEST_IP);
    let args = [
        "--kernel",
        kernel_s.as_str(),
        "--initrd",
        initramfs_s.as_str(),
        "--mem",
        "256M",
        "-q",
        "--init",
        serve.as_str(),
    ];
    let (linux, linux_engine) =
        guest_rates(&ns, exe_s, engine, &args, "nginx: serving", &initramfs_s)?;
    let mut figures = Vec::new();
    for (prefix, rates, how) in [("http_", &exo, "smoltcp"), ("http_xio_", &xio, "XIO")] {
        for ((name, _), (e, l)) in DOCS.iter().zip(rates.iter().zip(linux.iter())) {
            let (exo_ns, linux_ns) = (1e9 / e, 1e9 / l);
            let mut f = Figure::new(
                &format!("{prefix}{}", name.trim_end_matches(".bin")),
                "ns",
                exo_ns,
                linux_ns,
                &format!(
                    "Debian's nginx (one process) in the Linux guest, documents in its page cache; wrk -c{CONNECTIONS}, ns/request (exo: httpd on {how})"
                ),
            );
            f.exo_engine = exo_engine.clone();
            f.linux_engine = linux_engine.clone();
            figures.push(f);
        }
    }
    Ok((figures, exo_engine))
}
