//! A network namespace with one TAP device, where the network benchmarks and
//! tests run a guest: the host side of the TAP is 10.0.2.1/24, the guest is
//! 10.0.2.15. Every address used lives inside the namespace, so nothing
//! reaches the host's own network; the namespace is deleted when dropped.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The TAP inside the namespace (`exo run --net tap=exotap0`).
pub const TAP: &str = "exotap0";
/// The host side of the TAP.
pub const HOST_IP: &str = "10.0.2.1";
/// The guest's address (netd's and httpd's default).
pub const GUEST_IP: &str = "10.0.2.15";

/// Why this host cannot make namespaces with a TAP and run `tools` in them,
/// if it cannot.
pub fn unavailable(tools: &[&str]) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces and TAP devices need root".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    tools
        .iter()
        .find(|tool| crate::engine::find_on_path(tool).is_none())
        .map(|tool| format!("`{tool}` is not installed"))
}

/// A namespace of our own, deleted when dropped.
pub struct NetNs {
    name: String,
}

/// Runs `cmd`; its standard output, or an error saying `what` failed and
/// everything it printed.
fn output(mut cmd: Command, what: &str) -> Result<String, String> {
    let o = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    if o.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{what} failed ({}): {stdout}{}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim_end()
        ))
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    output(cmd, &format!("ip {}", args.join(" ")))
}

impl NetNs {
    /// A new namespace named after this process and `tag`, with the TAP up
    /// at `HOST_IP`/24 and loopback up.
    pub fn create(tag: &str) -> Result<NetNs, String> {
        // Unique within the process too: tests run side by side.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("exo-{}-{n}-{tag}", std::process::id());
        // One left by an earlier process of the same id that did not clean up.
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        // No IPv6 chatter from the host side: tests count packets.
        for key in ["all", "default"] {
            let _ = ns.run(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
            ]);
        }
        ns.run(&["ip", "tuntap", "add", TAP, "mode", "tap"])?;
        ns.run(&["ip", "addr", "add", &format!("{HOST_IP}/24"), "dev", TAP])?;
        ns.run(&["ip", "link", "set", TAP, "up"])?;
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `argv` to be run inside the namespace.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Runs `argv` inside the namespace: its standard output, or an error
    /// naming the command with all it printed.
    pub fn run(&self, argv: &[&str]) -> Result<String, String> {
        output(self.command(argv), &argv.join(" "))
    }

    /// Frames the host side of the TAP has received (sent by the guest).
    pub fn tap_rx_packets(&self) -> u64 {
        self.run(&[
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
