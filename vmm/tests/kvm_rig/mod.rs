//! The `kvm::` tests on a host without hardware virtualization: they run
//! all at once inside the nested-KVM rig (`ci/kvm-rig/run`: Debian's kernel
//! with kvm-amd on QEMU's emulated SVM), this very test binary being run
//! there on the `kvm::` tests, and each test here reports its verdict.

use std::collections::HashMap;
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set inside the rig, so that the binary there never starts another.
const INSIDE: &str = "EXO_IN_KVM_RIG";
/// `off` keeps the rig from running (the `kvm::` tests are then skipped).
const SWITCH: &str = "EXO_KVM_RIG";
/// The longest one test may run inside the rig before it is killed there.
const PER_TEST: Duration = Duration::from_secs(300);
/// Silence from the rig this long means its kernel or QEMU is stuck: the
/// rig is killed and booted again for the tests after the one it was on.
const STALL: Duration = Duration::from_secs(300 + 120);
/// How long the rig may take to power off once every test has reported.
const GRACE: Duration = Duration::from_secs(30);
/// The longest all rig boots together may take.
const LIMIT: Duration = Duration::from_secs(30 * 60);
/// Boots after which the tests left are reported as not run.
const BOOTS: usize = 3;

fn script(name: &str) -> String {
    format!("{}/../ci/kvm-rig/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `kvm::` tests that do not work in the rig yet, and why; they show as
/// ignored here (on hardware KVM they run as usual).
pub const NOT_YET: &[(&str, &str)] = &[];

/// Why the rig cannot stand in for hardware KVM here, or None if it can.
pub fn unavailable(qemu_missing: bool) -> Option<String> {
    if std::env::var_os(INSIDE).is_some() {
        return Some("inside the rig already".into());
    }
    if std::env::var(SWITCH).is_ok_and(|v| v == "off") {
        return Some(format!("{SWITCH}=off"));
    }
    if qemu_missing {
        return Some("the nested-KVM rig needs qemu-system-x86_64".into());
    }
    None
}

/// How one test ended in the rig.
#[derive(Clone)]
enum Verdict {
    Ok,
    Failed(String),
    Ignored,
}

/// Every `kvm::` test's verdict, from the rig run shared by all of them.
static RUN: OnceLock<HashMap<String, Verdict>> = OnceLock::new();

/// Runs the `kvm::` tests `names` in the rig, booting it again (up to
/// `BOOTS` times) when one hangs it, and returns each one's verdict.
fn run(names: &[String]) -> HashMap<String, Verdict> {
    let start = Instant::now();
    let mut verdicts = HashMap::new();
    eprintln!(
        "guest tests: {} kvm:: tests running one by one in the nested-KVM rig (a few minutes)",
        names.len()
    );
    // The rig sees this machine's root read-only: fetch and build here what
    // the tests inside need (a failure shows in the test that needs it).
    if let Err(e) = crate::guest_linux_kernel::prepare() {
        eprintln!("guest tests: the Linux guest for the rig: {e}");
    }
    for boot in 1..=BOOTS {
        let todo: Vec<&String> = names
            .iter()
            .filter(|n| !verdicts.contains_key(*n))
            .collect();
        if todo.is_empty() || start.elapsed() > LIMIT {
            break;
        }
        let ended = match one_boot(boot, &todo, start) {
            Ok(ended) => ended,
            Err(e) => Ended {
                out: String::new(),
                current: None,
                why: e,
            },
        };
        let found = parse(&ended.out);
        let progress = todo.iter().any(|n| found.contains_key(*n));
        verdicts.extend(found);
        if let Some(name) = ended.current.filter(|n| !verdicts.contains_key(n)) {
            verdicts.insert(name, Verdict::Failed(ended.why.clone()));
        } else if !progress {
            // Nothing ran at all: booting again would fail the same way.
            for n in todo {
                verdicts.insert(n.clone(), Verdict::Failed(ended.why.clone()));
            }
            break;
        }
    }
    eprintln!(
        "guest tests: the rig ran for {:.0} s",
        start.elapsed().as_secs_f64()
    );
    for n in names {
        verdicts.entry(n.clone()).or_insert_with(|| {
            Verdict::Failed(format!(
                "not run: the rig hung {BOOTS} times or ran out of its {} minutes",
                LIMIT.as_secs() / 60
            ))
        });
    }
    verdicts
}

/// What one boot of the rig printed, the test it was on when it stopped
/// (if it stopped inside one) and why it stopped.
struct Ended {
    out: String,
    current: Option<String>,
    why: String,
}

/// Boots the rig once on the tests `todo`, relaying each verdict as it comes.
fn one_boot(boot: usize, todo: &[&String], start: Instant) -> Result<Ended, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this test binary: {e}"))?;
    // The list travels as a file: the rig sees this machine's root.
    let list = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kvm-rig-{}-{boot}", std::process::id()));
    let text: String = todo.iter().map(|n| format!("{n}\n")).collect();
    std::fs::write(&list, text).map_err(|e| format!("cannot write {}: {e}", list.display()))?;
    let mut child = Command::new(script("run"))
        .arg("--")
        .arg(script("each"))
        .arg(&list)
        .arg(PER_TEST.as_secs().to_string())
        .arg(&me)
        // One test at a time: two at once have crashed the rig's kernel
        // ("corrupted stack end detected inside scheduler").
        .args(["--color", "never", "--test-threads", "1"])
        .env(INSIDE, "1")
        .env("EXO_RIG_ENV", INSIDE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that killing it takes QEMU too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", script("run")))?;
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .split(b'\n')
                .map_while(Result::ok)
            {
                let line = String::from_utf8_lossy(&line).replace('\r', "");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut out = String::new();
    let mut current: Option<String> = None;
    let mut heard = Instant::now();
    let mut reported = 0;
    let why = loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                heard = Instant::now();
                if let Some(name) = line.strip_prefix("exo-rig: starting ") {
                    current = Some(name.to_string());
                } else if line.starts_with("test kvm::") {
                    eprintln!(
                        "guest tests: in the rig: {}",
                        line.trim_start_matches("test ")
                    );
                    current = None;
                    reported += 1;
                }
                out.push_str(&line);
                out.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().ok().and_then(|s| s.code());
                break format!(
                    "the rig ended (status {status:?}); it printed last:\n{}",
                    tail(&out, 30)
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if reported == todo.len() && heard.elapsed() > GRACE {
                    // Every verdict is in: a rig slow to power off costs nothing.
                    kill_group(&mut child);
                    break String::new();
                }
                let stuck = heard.elapsed() > STALL;
                if stuck || start.elapsed() > LIMIT {
                    kill_group(&mut child);
                    let what = if stuck {
                        format!(
                            "the rig stopped answering ({} s without output)",
                            STALL.as_secs()
                        )
                    } else {
                        format!("the rig ran out of its {} minutes", LIMIT.as_secs() / 60)
                    };
                    eprintln!("guest tests: {what}: killed");
                    break format!(
                        "{what} during this test; it printed last:\n{}",
                        tail(&out, 30)
                    );
                }
            }
        }
    };
    let _ = std::fs::remove_file(&list);
    Ok(Ended { out, current, why })
}

/// Kills the rig and everything it started (QEMU above all).
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) only sends a signal; the group is the rig's own
        // (process_group(0) at spawn), which holds nothing of this process.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.wait();
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Checks `parse` on a report of each kind of verdict.
pub fn parse_check() -> Result<(), libtest_mimic::Failed> {
    let out = "running 3 tests\ntest kvm::a ... ok\ntest kvm::b ... FAILED\ntest kvm::c ... ignored\n\nfailures:\n\n---- kvm::b ----\nexpected 3\ngot 4\n\nfailures:\n    kvm::b\n";
    let v = parse(out);
    let good = matches!(v.get("kvm::a"), Some(Verdict::Ok))
        && matches!(v.get("kvm::c"), Some(Verdict::Ignored))
        && matches!(v.get("kvm::b"), Some(Verdict::Failed(t)) if t == "expected 3\ngot 4");
    if good {
        Ok(())
    } else {
        Err("a libtest report was misread".into())
    }
}

/// The verdicts in a libtest report, with each failure's own output.
fn parse(out: &str) -> HashMap<String, Verdict> {
    let mut v = HashMap::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, result)) = rest.split_once(" ... ") else {
            continue;
        };
        let verdict = match result.trim() {
            "ok" => Verdict::Ok,
            "ignored" => Verdict::Ignored,
            r if r.starts_with("FAILED") => Verdict::Failed(failure_text(out, name.trim())),
            _ => continue,
        };
        v.insert(name.trim().to_string(), verdict);
    }
    v
}

/// The block libtest prints for a failed test: from its "---- NAME ----"
/// header to the next header or the failure list.
fn failure_text(out: &str, name: &str) -> String {
    let header = format!("---- {name} ----");
    let Some(at) = out.find(&header) else {
        return "failed in the rig (no details)".into();
    };
    let body = &out[at + header.len()..];
    let end = ["\n---- ", "\nfailures:"]
        .iter()
        .filter_map(|m| body.find(m))
        .min()
        .unwrap_or(body.len());
    body[..end].trim().to_string()
}

/// The verdict of test `name`, running the rig on all of `names` (the
/// `kvm::` tests this run selected) first if no test has yet.
pub fn verdict(name: &str, names: &[String]) -> Result<(), libtest_mimic::Failed> {
    match RUN.get_or_init(|| run(names)).get(name) {
        Some(Verdict::Ok) => Ok(()),
        Some(Verdict::Failed(why)) => Err(format!("in the nested-KVM rig:\n{why}").into()),
        Some(Verdict::Ignored) => Err("ignored inside the rig: see the rig's output".into()),
        None => Err(format!("the rig did not report {name}").into()),
    }
}
