//! Network tests: each makes its own network namespace with a TAP device
//! (host side 10.0.2.1/24, guest 10.0.2.15), boots the guest on it, and
//! sends traffic only inside that namespace.

use super::common::Running;
use super::expect;
use exo::netns::{NetNs, GUEST_IP, TAP};
use libtest_mimic::{Failed, Trial};
use std::process::Command;
use std::time::{Duration, Instant};

/// Why this host cannot run the network tests, if it cannot.
pub fn unavailable() -> Option<String> {
    exo::netns::unavailable(&["ip", "ping"])
}

/// `exo ARGS` started inside the namespace.
fn start_in(ns: &NetNs, args: &[&str]) -> Result<Running, String> {
    let mut argv = vec![env!("CARGO_BIN_EXE_exo")];
    argv.extend_from_slice(args);
    Running::start(ns.command(&argv))
}

const BOOT: Duration = Duration::from_secs(120);

/// The guest answers `ping` from the host side of its TAP, and the raw
/// network calls refuse misuse while real traffic arrives.
pub fn ping_case(engine: &'static str) -> Trial {
    Trial::test(format!("{engine}::virtio_net_ping_in_netns"), move || {
        let ns = NetNs::create("ping")?;
        let net = format!("tap={TAP}");
        let common = ["run", "--engine", engine, "--timeout", "120", "--net", &net];

        // Misuse first: the host pings so that frames arrive.
        let mut args = common.to_vec();
        args.extend_from_slice(&["--init", "/bin/net_check"]);
        let mut g = start_in(&ns, &args)?;
        g.wait_for("virtio-net at", BOOT);
        let start = Instant::now();
        while !g.exited() && start.elapsed() < BOOT {
            let _ = ns.run(&["ping", "-c", "1", "-W", "1", GUEST_IP]);
        }
        let o = g.finish(BOOT);
        expect(
            &o,
            0,
            &[
                "net_check: runt frame refused: ok",
                "net_check: oversize frame refused: ok",
                "net_check: send from kernel memory refused: ok",
                "net_check: gather from kernel memory refused: ok",
                "net_check: gather with a runt head refused: ok",
                "net_check: gather beyond the largest frame refused: ok",
                "net_check: gather of a good frame sent: ok",
                "net_check: a buffer smaller than the frame is refused: ok",
                "net_check: receive into kernel memory refused: ok",
                "net_check: the refused frame stayed queued and arrives whole: ok",
                "net_check: environment without the device capability: refused",
                "net_check: done",
            ],
        )?;

        // Then ping for real.
        let mut args = common.to_vec();
        args.extend_from_slice(&["--init", "/bin/netd 10.0.2.15 3"]);
        let mut g = start_in(&ns, &args)?;
        if !g.wait_for("ready", BOOT) {
            return Err(format!("netd never got ready\n{}", g.finish(BOOT).show()).into());
        }
        let ping = ns.run(&["ping", "-c", "3", "-i", "0.3", "-W", "5", GUEST_IP]);
        let o = g.finish(BOOT);
        let ping = ping.map_err(|e| format!("{e}\n{}", o.show()))?;
        if !ping.contains("3 packets transmitted, 3 received") {
            return Err(format!("ping lost replies:\n{ping}\n{}", o.show()).into());
        }
        expect(
            &o,
            0,
            &[
                "netd: 10.0.2.15 at 52:54:00:12:34:56, ready",
                "3 echo requests",
            ],
        )
        .map_err(Failed::from)
    })
}

/// DPF with real traffic: two processes claim UDP ports 7000 and 7001 and
/// each receives exactly its own datagrams; a datagram to 7002 is
/// unclaimed; the trace holds exactly the expected DPF events.
pub fn dpf_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::dpf_demultiplexes_real_traffic"),
        move || {
            let ns = NetNs::create("dpf")?;
            ns.run(&[
                "ip",
                "neigh",
                "add",
                GUEST_IP,
                "lladdr",
                "52:54:00:12:34:56",
                "dev",
                TAP,
                "nud",
                "permanent",
            ])?;
            let trace = std::env::temp_dir()
                .join(format!("exo-test-dpf-{}-{engine}.trc", std::process::id()));
            let t = trace.to_str().unwrap();
            let net = format!("tap={TAP}");
            let args = [
                "run",
                "--engine",
                engine,
                "--timeout",
                "120",
                "--net",
                &net,
                "--init",
                "/bin/dpf_check",
                "--trace",
                t,
                "--trace-events",
                "dpf",
            ];
            let mut g = start_in(&ns, &args)?;
            if !(g.wait_for("a ready", BOOT) && g.wait_for("b ready", BOOT)) {
                return Err(format!("dpf_check never got ready\n{}", g.finish(BOOT).show()).into());
            }
            ns.run(&[
                "bash",
                "-c",
                "for i in 1 2 3; do echo to-7000 $i > /dev/udp/10.0.2.15/7000; \
             echo to-7001 $i > /dev/udp/10.0.2.15/7001; done; \
             echo nobody > /dev/udp/10.0.2.15/7002",
            ])?;
            let o = g.finish(BOOT);
            expect(
                &o,
                0,
                &[
                    "exo: dpf: packets classified by the x86-64 JIT",
                    "b: a filter overlapping the other process's is refused: ok",
                    "b: removing the other process's filter is refused: ok",
                    "b: a malformed filter is refused: ok",
                    "b: sending before taking part in DPF is refused: ok",
                    "a: received 3 of 3",
                    "b: received 3 of 3",
                    "b: only its own datagrams arrived: ok",
                    "b: a datagram from its own port is sent: ok",
                    "b: a spoofed datagram (another port) is refused: ok",
                    "b: sending with a receive filter but no transmit filter is refused: ok",
                    "b: removing its own transmit filter is refused: ok",
                    "b: widening its own transmit filter is refused: ok",
                    "b: a spoofed datagram sent by gather is refused: ok",
                    "b: a datagram from its own port is sent by gather: ok",
                    "dpf_check: delivered 6, unclaimed 1, dropped 0",
                    "dpf_check: done",
                ],
            )?;
            if o.stdout.contains("NOT MINE") {
                return Err(format!("a process saw another's packet\n{}", o.show()).into());
            }
            let stats = super::common::exo(&["trace", "stats", t]);
            let counts = super::common::trace_counts(&stats.stdout);
            let _ = std::fs::remove_file(&trace);
            // Two filters installed and one refused (the overlap; the malformed
            // one never reaches the engine); six datagrams claimed, one not.
            for (name, n) in [
                ("dpf_insert", 3),
                ("dpf_refused", 1),
                ("dpf_verdict", 7),
                ("dpf_unclaimed", 1),
                ("dropped", 0),
            ] {
                if counts.get(name) != Some(&n) {
                    return Err(format!("trace: want {name} {n}\n{}", stats.show()).into());
                }
            }
            Ok(())
        },
    )
}

/// Documents of the web test: name, size.
const DOCS: [(&str, usize); 4] = [
    ("index.html", 100),
    ("1k.bin", 1024),
    ("10k.bin", 10 * 1024),
    ("100k.bin", 100 * 1024),
];

/// httpd in the guest serves files of the library file system: `curl` from
/// the host side gets them byte for byte, bad requests get the right
/// status, and many clients at once are all served.
/// With `xio`, httpd runs on XIO, the Cheetah-style TCP (precomputed
/// checksums, payload sent by the device straight from the cache).
pub fn httpd_case(engine: &'static str, xio: bool) -> Trial {
    let name = if xio {
        "httpd_on_xio_serves_files_to_curl"
    } else {
        "httpd_serves_files_to_curl"
    };
    Trial::test(format!("{engine}::{name}"), move || {
        for tool in ["curl", "bash"] {
            if exo::engine::find_on_path(tool).is_none() {
                return Err(format!("`{tool}` is not installed").into());
            }
        }
        let dir = std::env::temp_dir().join(format!(
            "exo-test-www-{}-{engine}-{xio}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut add = Vec::new();
        for (i, (name, size)) in DOCS.iter().enumerate() {
            let data: Vec<u8> = (0..*size).map(|k| (k * 7 + i * 13) as u8).collect();
            let p = dir.join(name);
            std::fs::write(&p, data).map_err(|e| e.to_string())?;
            add.push("--add".to_string());
            add.push(p.to_str().unwrap().to_string());
        }
        let img = dir.join("www.img");
        let ip = img.to_str().unwrap().to_string();
        let mut mkfs = vec![
            "xn", "mkfs", "--fs", "cffs", &ip, "--size", "16M", "--root", "www",
        ];
        mkfs.extend(add.iter().map(String::as_str));
        let o = super::common::exo(&mkfs);
        if o.status != Some(0) {
            return Err(format!("mkfs\n{}", o.show()).into());
        }
        let ns = NetNs::create(if xio { "xio" } else { "http" })?;
        let net = format!("tap={TAP}");
        let args = [
            "run",
            "--engine",
            engine,
            "--timeout",
            "300",
            "--net",
            &net,
            "--disk",
            &ip,
            "--init",
            if xio {
                "/bin/httpd --xio"
            } else {
                "/bin/httpd"
            },
        ];
        let mut g = start_in(&ns, &args)?;
        let stop = |g: super::common::Running| {
            if engine == "qemu" {
                let _ = Command::new("pkill")
                    .args(["-f", &format!("qemu-system-x86_64.*{ip}")])
                    .status();
            }
            let mut g = g;
            g.kill();
            g.finish(Duration::from_secs(20))
        };
        let ready = if xio {
            "httpd: serving 'www' on XIO, port 80"
        } else {
            "httpd: serving 'www' on 10.0.2.15:80"
        };
        if !g.wait_for(ready, BOOT) {
            return Err(format!("httpd did not start\n{}", stop(g).show()).into());
        }
        let url = |name: &str| format!("http://{GUEST_IP}/{name}");
        let mut failures = Vec::new();
        for (name, _) in DOCS {
            let out = dir.join(format!("got-{name}"));
            let r = ns.run(&[
                "curl",
                "-sS",
                "-m",
                "20",
                "-o",
                out.to_str().unwrap(),
                &url(name),
            ]);
            let same = std::fs::read(&out).ok() == std::fs::read(dir.join(name)).ok();
            if r.is_err() || !same {
                failures.push(format!("{name}: {r:?}, identical: {same}"));
            }
        }
        // Bad requests, each with its status.
        let status = |extra: &[&str], target: &str| {
            let mut a = vec![
                "curl",
                "-s",
                "-m",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ];
            a.extend_from_slice(extra);
            let u = url(target);
            a.push(&u);
            ns.run(&a).unwrap_or_default()
        };
        for (what, got, want) in [
            ("missing document", status(&[], "nope.html"), "404"),
            ("POST", status(&["-X", "POST"], "1k.bin"), "405"),
            ("HEAD", status(&["-I"], "1k.bin"), "200"),
            ("HTTP/1.0", status(&["-0"], "10k.bin"), "200"),
        ] {
            if got != want {
                failures.push(format!("{what}: status {got}, want {want}"));
            }
        }
        let raw = ns
            .run(&[
                "bash",
                "-c",
                "exec 3<>/dev/tcp/10.0.2.15/80; printf 'GARBAGE\\r\\n\\r\\n' >&3; head -c 12 <&3",
            ])
            .unwrap_or_default();
        if raw != "HTTP/1.1 400" {
            failures.push(format!(
                "a malformed request got {raw:?}, want HTTP/1.1 400"
            ));
        }
        // Many clients at once, each checking its copy.
        let many = ns.run(&[
            "bash",
            "-c",
            &format!(
                "for i in $(seq 1 24); do (curl -sS -m 60 {} 2>&1 | cmp - {} >/dev/null 2>&1 && echo ok || echo \"failed: $(curl -sS -m 60 -o /dev/null -w '%{{http_code}}' {} 2>&1)\") & done; wait",
                url("10k.bin"),
                dir.join("10k.bin").display(),
                url("10k.bin"),
            ),
        ]);
        let oks = many.as_deref().unwrap_or("").matches("ok").count();
        if oks != 24 {
            failures.push(format!(
                "24 concurrent clients: {oks} served correctly ({many:?})"
            ));
        }
        if xio
            && !g.wait_for(
                "with precomputed checksums, 0 retransmitted",
                Duration::from_secs(10),
            )
        {
            failures.push("XIO reported no segments with precomputed checksums".into());
        }
        let o = stop(g);
        let _ = std::fs::remove_dir_all(&dir);
        if !failures.is_empty() {
            return Err(format!("{}\n{}", failures.join("\n"), o.show()).into());
        }
        Ok(())
    })
}

/// The host side of the sockets test (Python's sockets, inside the namespace).
const SOCKETS_HOST: &str = r#"import socket, sys, threading, time
# TCP server on 10.0.2.1:9000 answering one line in capitals
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.0.2.1", 9000)); srv.listen(1)
def serve():
    c, _ = srv.accept(); line = c.recv(100); c.sendall(line.upper()); time.sleep(0.5); c.close()
threading.Thread(target=serve, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(30)
u.sendto(b"quiet datagram", ("10.0.2.15", 7000))
print("udp:", u.recvfrom(100)[0].decode())
time.sleep(1.0)
for attempt in range(60):
    try:
        t = socket.create_connection(("10.0.2.15", 7), timeout=30); break
    except OSError:
        time.sleep(0.5)
t.sendall(b"echo me please"); t.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = t.recv(100)
    if not d: break
    got += d
print("tcp echo:", got.decode())
"#;

/// The library OS's sockets API: UDP answered, TCP connect to a host
/// server, TCP accept from a host client.
pub fn sockets_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::sockets_udp_and_tcp_both_ways"),
        move || {
            if exo::engine::find_on_path("python3").is_none() {
                return Err("python3 is not installed".into());
            }
            let ns = NetNs::create("sock")?;
            let script = std::env::temp_dir()
                .join(format!("exo-test-sock-{}-{engine}.py", std::process::id()));
            std::fs::write(&script, SOCKETS_HOST).map_err(|e| e.to_string())?;
            let net = format!("tap={TAP}");
            let args = [
                "run",
                "--engine",
                engine,
                "--timeout",
                "120",
                "--net",
                &net,
                "--init",
                "/bin/sockets_check",
            ];
            let mut g = start_in(&ns, &args)?;
            if !g.wait_for("sockets_check: ready", BOOT) {
                return Err(
                    format!("sockets_check never got ready\n{}", g.finish(BOOT).show()).into(),
                );
            }
            let host = ns.run(&["timeout", "90", "python3", script.to_str().unwrap()]);
            let o = g.finish(BOOT);
            let _ = std::fs::remove_file(&script);
            let host = host.map_err(|e| format!("host side: {e}\n{}", o.show()))?;
            if !host.contains("udp: QUIET DATAGRAM") || !host.contains("tcp echo: echo me please") {
                return Err(format!("host side saw:\n{host}\n{}", o.show()).into());
            }
            expect(
                &o,
                0,
                &[
                    "sockets_check: udp: answered 14 bytes",
                    "sockets_check: tcp connect: sent 15, got \"HELLO FROM EXO\"",
                    "sockets_check: tcp accept: echoed 14 bytes",
                    "sockets_check: done",
                ],
            )
            .map_err(Failed::from)
        },
    )
}

/// Our VMM's virtio-net on kvm_pvm: the kernel sends a frame at boot and
/// the host side of the TAP receives it.
pub fn pvm_send_case() -> Trial {
    Trial::test("kvm_pvm::vmm_virtio_net_send_at_boot", || {
        let ns = NetNs::create("pvm")?;
        let before = ns.tap_rx_packets();
        let net = format!("tap={TAP}");
        let args = [
            "run",
            "--engine",
            "kvm",
            "--timeout",
            "600",
            "--net",
            &net,
            "--cmdline",
            "exo.stop=boot exo.netcheck=1",
        ];
        let o = start_in(&ns, &args)?.finish(Duration::from_secs(620));
        expect(
            &o,
            0,
            &[
                "virtio-net at 0xd0000000 (irq 5): MAC 52:54:00:12:34:56",
                "netcheck: sent",
            ],
        )?;
        let after = ns.tap_rx_packets();
        if after <= before {
            return Err(format!("the host side received nothing ({before} -> {after})").into());
        }
        Ok(())
    })
}
