//! Our VMM's own gdb stub on a kvm_pvm host, where only the kernel's ring-0
//! boot runs (emulated): a real gdb breaks on kernel functions (`hbreak`
//! and `break`), steps, reads registers, stack memory through the guest's
//! page tables and a kernel variable, then lets the guest finish; a raw
//! protocol client interrupts the running guest with Ctrl-C.

use super::expect;
use libtest_mimic::{Failed, Trial};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn start_vmm(port: u16) -> Result<std::process::Child, String> {
    Command::new(env!("CARGO_BIN_EXE_exo"))
        .args([
            "run",
            "--engine",
            "kvm",
            "--timeout",
            "300",
            "--cmdline",
            "exo.stop=boot",
            "--gdb",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start exo: {e}"))
}

fn connect(port: u16) -> Result<TcpStream, String> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return Ok(s),
            Err(_) if start.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => return Err(format!("the stub never listened: {e}")),
        }
    }
}

fn wait_listening(port: u16) -> Result<(), String> {
    // Probe with a connection that gdb will not need: the stub accepts one
    // client, so poll the port with `ss` instead.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let out = Command::new("ss")
            .args(["-ltn"])
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port} ")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the stub never listened".into())
}

fn gdb_session() -> Result<(), Failed> {
    let port = free_port()?;
    let vm = start_vmm(port)?;
    wait_listening(port)?;
    let gdb = Command::new("gdb")
        .args(["-batch", "-nx", env!("EXO_DEFAULT_KERNEL")])
        .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
        .args([
            "-ex",
            "hbreak kernel_main",
            "-ex",
            "break exokernel::console::init",
        ])
        .args(["-ex", "continue", "-ex", "info registers rip"])
        .args([
            "-ex",
            "continue",
            "-ex",
            "bt 2",
            "-ex",
            "stepi",
            "-ex",
            "info registers rip",
        ])
        .args(["-ex", "x/2gx $rsp", "-ex", "print exokernel::traps::TICKS"])
        .args(["-ex", "delete", "-ex", "continue"])
        .output()
        .map_err(|e| format!("cannot run gdb: {e}"))?;
    let out =
        String::from_utf8_lossy(&gdb.stdout).into_owned() + &String::from_utf8_lossy(&gdb.stderr);
    let vm_out = vm.wait_with_output().map_err(|e| e.to_string())?;
    for needle in [
        "Breakpoint 1, exokernel::kernel_main",
        "<exokernel::kernel_main+",
        "Breakpoint 2, exokernel::console::init",
        "#1  0x",
        "in exokernel::kernel_main",
        "0x7f80",
        "AtomicU64",
        "exited normally",
    ] {
        if !out.contains(needle) {
            return Err(format!("gdb output lacks {needle:?}:\n{out}").into());
        }
    }
    let o = super::common::Outcome {
        status: vm_out.status.code(),
        stdout: String::from_utf8_lossy(&vm_out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&vm_out.stderr).into_owned(),
    };
    expect(&o, 0, &["stopping after boot"]).map_err(Failed::from)
}

/// Sends one remote-protocol packet and returns the reply packet's body.
fn exchange(s: &mut TcpStream, body: &[u8], pause: Option<Duration>) -> Result<String, String> {
    let sum: u8 = body.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    s.write_all(&[b"$", body, format!("#{sum:02x}").as_bytes()].concat())
        .map_err(|e| e.to_string())?;
    if let Some(p) = pause {
        std::thread::sleep(p);
        s.write_all(&[3]).map_err(|e| e.to_string())?; // Ctrl-C
    }
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    loop {
        s.read_exact(&mut b)
            .map_err(|e| format!("reading a reply: {e}"))?;
        got.push(b[0]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(start) = text.find('$') {
            if let Some(end) = text[start..].find('#') {
                if text.len() >= start + end + 3 {
                    s.write_all(b"+").map_err(|e| e.to_string())?;
                    return Ok(text[start + 1..start + end].to_string());
                }
            }
        }
    }
}

fn interrupt() -> Result<(), Failed> {
    let port = free_port()?;
    let vm = start_vmm(port)?;
    let mut s = connect(port)?;
    let first = exchange(&mut s, b"?", None)?;
    let stopped = exchange(&mut s, b"c", Some(Duration::from_millis(200)))?;
    let done = exchange(&mut s, b"c", None)?;
    let _ = vm.wait_with_output();
    if !first.starts_with('T') || stopped != "S02" || done != "W00" {
        return Err(format!(
            "stop replies: {first:?}, after Ctrl-C {stopped:?}, at the end {done:?}"
        )
        .into());
    }
    Ok(())
}

pub fn pvm_case() -> Trial {
    Trial::test(
        "kvm_pvm::vmm_gdb_stub_breaks_steps_reads_and_interrupts",
        || {
            gdb_session()?;
            interrupt()
        },
    )
}
