//! `exo bench --suite net`: HTTP requests per second for 1, 10 and 100 KB
//! documents, from `wrk` against httpd in the guest (documents on the XN
//! disk, served over DPF and the library TCP stack) and, in the same run,
//! against nginx on the host serving the same files in the same network
//! namespace. Figures are ns per request (1e9 / requests per second).

use super::Figure;
use crate::netns::{NetNs, GUEST_IP, HOST_IP, TAP};
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
    crate::netns::unavailable(&["ip", "wrk", "nginx"])
}

/// Requests per second that `wrk` reports for `url`, from inside `ns`.
fn wrk(ns: &NetNs, url: &str) -> Result<f64, String> {
    let out = ns.run(&["wrk", "-t1", "-c", CONNECTIONS, "-d", SECONDS, url])?;
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("wrk printed no rate for {url}:\n{out}"))
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

pub fn figures() -> Result<(Vec<Figure>, String), String> {
    let dir = crate::scratch::Scratch::new("bench-www")?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    measure(dir.path(), &www)
}

/// Requests per second of each document from `init` (an httpd) in the
/// guest, and the engine it ran on.
fn guest_rates(
    ns: &NetNs,
    exe_s: &str,
    img_s: &str,
    init: &str,
) -> Result<(Vec<f64>, String), String> {
    let net = format!("tap={TAP}");
    let mut guest = ns
        .command(&[
            exe_s,
            "run",
            "--net",
            &net,
            "--disk",
            img_s,
            "--init",
            init,
            "--timeout",
            "600",
        ])
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
            .args(["-f", &format!("qemu-system-x86_64.*{img_s}")])
            .status();
        let _ = g.kill();
        let _ = g.wait();
    };
    if let Err(e) = wait_for(&mut guest, "httpd: serving", Duration::from_secs(120)) {
        stop_guest(&mut guest);
        return Err(format!("httpd in the guest: {e}"));
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

fn measure(dir: &std::path::Path, www: &std::path::Path) -> Result<(Vec<Figure>, String), String> {
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
    let ns = NetNs::create("net")?;
    let exe_s = exe.to_str().ok_or("exo's path is not UTF-8")?;
    let (exo, engine) = guest_rates(&ns, exe_s, &img_s, "/bin/httpd")?;
    let (xio, _) = guest_rates(&ns, exe_s, &img_s, "/bin/httpd --xio")?;
    // nginx on the host side, same namespace, same files.
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen {HOST_IP}:8080; root {w}; }} }}\n",
            d = dir.display(),
            w = www.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let conf_s = conf.to_str().ok_or("temporary path is not UTF-8")?;
    let mut nginx = ns
        .command(&["nginx", "-c", conf_s])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let mut linux = Vec::new();
    for (name, _) in DOCS {
        let r = wrk(&ns, &format!("http://{HOST_IP}:8080/{name}"));
        match r {
            Ok(r) => linux.push(r),
            Err(e) => {
                let _ = nginx.kill();
                return Err(format!("nginx: {e}"));
            }
        }
    }
    let _ = nginx.kill();
    let _ = nginx.wait();
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
                    "nginx (1 worker), same netns; wrk -c{CONNECTIONS}, ns/request (exo: httpd on {how})"
                ),
            );
            // nginx still runs on this host, not in a Linux guest.
            f.linux_engine = "host".into();
            figures.push(f);
        }
    }
    Ok((figures, engine))
}
