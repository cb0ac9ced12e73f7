//! A network namespace with a TAP for benchmarks (host side 10.0.2.1/24,
//! guest 10.0.2.15); everything stays inside it and it is deleted on drop.

use std::process::{Command, Output};

pub const TAP: &str = "exotap0";
pub const HOST_IP: &str = "10.0.2.1";
pub const GUEST_IP: &str = "10.0.2.15";

pub struct NetNs {
    pub name: String,
}

fn ok(o: std::io::Result<Output>, what: &str) -> Result<String, String> {
    let o = o.map_err(|e| format!("{what}: {e}"))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

impl NetNs {
    pub fn create(tag: &str) -> Result<NetNs, String> {
        let name = format!("exo-bench-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ok(
            Command::new("ip").args(["netns", "add", &name]).output(),
            "ip netns add",
        )?;
        let ns = NetNs { name };
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

    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    pub fn run(&self, argv: &[&str]) -> Result<String, String> {
        ok(self.command(argv).output(), argv[0])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
