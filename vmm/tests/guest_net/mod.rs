//! Network tests: each makes its own network namespace with a TAP device
//! (host side 10.0.2.1/24, guest 10.0.2.15), boots the guest on it, and
//! sends traffic only inside that namespace.

use super::common::Outcome;
use super::expect;
use libtest_mimic::{Failed, Trial};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// `exo ARGS` started inside the namespace, its output collected.
struct Guest {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Guest {
    fn start(ns: &NetNs, args: &[&str]) -> Result<Guest, String> {
        let mut argv = vec![env!("CARGO_BIN_EXE_exo")];
        argv.extend_from_slice(args);
        let mut child = ns
            .command(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start exo: {e}"))?;
        let collect = |mut r: Box<dyn Read + Send>| {
            let s = Arc::new(Mutex::new(String::new()));
            let sink = s.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]).replace('\r', ""));
                }
            });
            s
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        Ok(Guest { child, out, err })
    }

    /// Waits until the console shows `needle` (false: timed out or exited).
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.out.lock().unwrap().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.out.lock().unwrap().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the guest to end, then what it printed.
    fn finish(mut self, timeout: Duration) -> Outcome {
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break s.code();
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        let stdout = self.out.lock().unwrap().clone();
        let stderr = self.err.lock().unwrap().clone();
        Outcome {
            status,
            stdout,
            stderr,
        }
    }
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
        let mut g = Guest::start(&ns, &args)?;
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
        let mut g = Guest::start(&ns, &args)?;
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
        let o = Guest::start(&ns, &args)?.finish(Duration::from_secs(620));
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
