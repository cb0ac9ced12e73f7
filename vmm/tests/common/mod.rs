//! Running the `exo` binary from tests.
#![allow(dead_code)]

pub mod pty;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one `exo` invocation printed and returned.
pub struct Outcome {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// A description for assertion messages.
    pub fn show(&self) -> String {
        format!(
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl From<std::process::Output> for Outcome {
    fn from(out: std::process::Output) -> Outcome {
        Outcome {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).replace('\r', ""),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `exo ARGS...` with no standard input.
pub fn exo(args: &[&str]) -> Outcome {
    Command::new(env!("CARGO_BIN_EXE_exo"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the exo binary")
        .into()
}

/// `exo ARGS...` started with all three standard streams piped.
fn spawn_piped(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_exo"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the exo binary")
}

/// Runs `exo ARGS...` with `input` written to its standard input at once
/// (then closed), as `printf ... | exo run` does.
pub fn exo_piped(args: &[&str], input: &[u8]) -> Outcome {
    let mut child = spawn_piped(args);
    let mut stdin = child.stdin.take().expect("piped");
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("exo ran").into()
}

/// Runs `exo ARGS...` as a user at the shell would: each line of `input` is
/// typed after the `prompt` has appeared once more on the console.
pub fn exo_typing(args: &[&str], prompt: &str, input: &[&str], timeout: Duration) -> Outcome {
    let mut child = spawn_piped(args);
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = out.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let mut stdin = child.stdin.take().unwrap();
    type_lines(
        &mut child, &out, prompt, input, b"\n", &mut stdin, start, timeout,
    );
    let status = wait_or_kill(&mut child, start, timeout);
    drop(stdin);
    let _ = reader.join();
    let stdout = String::from_utf8_lossy(&out.lock().unwrap()).replace('\r', "");
    Outcome {
        status,
        stdout,
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Types each line of `input`, ended by `enter`, after `prompt` has
/// appeared once more in `out` (or the child ended, or time ran out).
#[allow(clippy::too_many_arguments)]
pub fn type_lines(
    child: &mut std::process::Child,
    out: &Arc<Mutex<Vec<u8>>>,
    prompt: &str,
    input: &[&str],
    enter: &[u8],
    to: &mut impl Write,
    start: Instant,
    timeout: Duration,
) {
    let prompts = || {
        String::from_utf8_lossy(&out.lock().unwrap())
            .matches(prompt)
            .count()
    };
    for (i, line) in input.iter().enumerate() {
        while prompts() < i + 1 && start.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = to.write_all(line.as_bytes());
        let _ = to.write_all(enter);
        let _ = to.flush();
    }
}

/// The child's exit status, or None if it had to be killed at `timeout`.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    start: Instant,
    timeout: Duration,
) -> Option<i32> {
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A guest started in the background, its output collected as it comes.
pub struct Running {
    child: std::process::Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Running {
    /// Starts `cmd` (an `exo run`, perhaps wrapped) with its output piped.
    pub fn start(mut cmd: Command) -> Result<Running, String> {
        let mut child = cmd
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
        Ok(Running { child, out, err })
    }

    /// Starts `exo ARGS`.
    pub fn exo(args: &[&str]) -> Result<Running, String> {
        let mut c = Command::new(env!("CARGO_BIN_EXE_exo"));
        c.args(args);
        Running::start(c)
    }

    /// The console output so far.
    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until the console shows `needle` (false: timed out or exited).
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.out.lock().unwrap().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return self.out.lock().unwrap().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills `exo` itself (SIGKILL): under our VMM, the VMM dies mid-run.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the guest to end (killing it after `timeout`), then what it printed.
    pub fn finish(mut self, timeout: Duration) -> Outcome {
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

/// `exo trace stats` output as counts by name (the name is everything
/// before the last word).
pub fn trace_counts(stats: &str) -> std::collections::BTreeMap<String, u64> {
    stats
        .lines()
        .filter_map(|l| {
            let (name, n) = l.trim().rsplit_once(char::is_whitespace)?;
            Some((name.trim().to_string(), n.parse().ok()?))
        })
        .collect()
}
