//! Network tests: each makes its own network namespace with a TAP device
//! (host side 10.0.2.1/24, guest 10.0.2.15), boots the guest on it, and
//! sends traffic only inside that namespace.

use super::common::Running;
use super::expect;
use libtest_mimic::{Failed, Trial};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TAP: &str = "exotap0";
const HOST_IP: &str = "10.0.2.1/24";
const GUEST_IP: &str = "10.0.2.15";

/// Why this host cannot run the network tests, if it cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces and TAP devices need root".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    for tool in ["ip", "ping"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!(
                "`{tool}` is not installed (iproute2, iputils-ping)"
            ));
        }
    }
    None
}

/// A network namespace with one TAP, deleted when dropped.
struct NetNs {
    name: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

impl NetNs {
    fn create(tag: &str) -> Result<NetNs, String> {
        let name = format!("exo-test-{}-{tag}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        // No IPv6 chatter from the host side: tests count packets.
        for key in ["all", "default"] {
            let _ = ns.exec_ok(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
            ]);
        }
        ns.exec_ok(&["ip", "tuntap", "add", TAP, "mode", "tap"])?;
        ns.exec_ok(&["ip", "addr", "add", HOST_IP, "dev", TAP])?;
        ns.exec_ok(&["ip", "link", "set", TAP, "up"])?;
        Ok(ns)
    }

    fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    fn exec_ok(&self, argv: &[&str]) -> Result<String, String> {
        let o = self
            .command(argv)
            .output()
            .map_err(|e| format!("{}: {e}", argv[0]))?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "{} failed: {text}{}",
                argv.join(" "),
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    }

    /// Frames the host side of the TAP has received (sent by the guest).
    fn tap_rx_packets(&self) -> u64 {
        self.exec_ok(&[
            "cat",
            &format!("/sys/class/net/{TAP}/statistics/rx_packets"),
        ])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
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
            let _ = ns.exec_ok(&["ping", "-c", "1", "-W", "1", GUEST_IP]);
        }
        let o = g.finish(BOOT);
        expect(
            &o,
            0,
            &[
                "net_check: runt frame refused: ok",
                "net_check: oversize frame refused: ok",
                "net_check: send from kernel memory refused: ok",
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
        let ping = ns.exec_ok(&["ping", "-c", "3", "-i", "0.3", "-W", "5", GUEST_IP]);
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
            ns.exec_ok(&[
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
            ns.exec_ok(&[
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
