//! Unmodified Linux programs on the library OS's Linux personality: Debian's
//! busybox-static (fetched by `ci/busybox`) runs on exo under `/bin/linux`
//! and, the same binary, on this host; their output must be byte-identical
//! (`exo run -q`: the console carries the program's output alone, its
//! standard output and error as they interleave).

use super::common::{exo_piped, Outcome};
use libtest_mimic::Trial;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The differential corpus: shell scripts for `busybox sh` on standard
/// input, each run on exo with a blank disk (it starts in a writable
/// directory there) and on this host in an empty directory.
const CORPUS: &[(&str, &str)] = &[
    ("basics", include_str!("corpus/basics.sh")),
    ("text", include_str!("corpus/text.sh")),
    ("control", include_str!("corpus/control.sh")),
    ("processes", include_str!("corpus/processes.sh")),
    ("files", include_str!("corpus/files.sh")),
    ("signals", include_str!("corpus/signals.sh")),
];

/// Applets run directly, with their arguments.
const COMMANDS: &[&[&str]] = &[
    &["echo", "-n", "no newline"],
    &["seq", "2", "5"],
    &["true"],
    &["false"],
    &["sleep", "0.1"],
];

fn busybox() -> Result<String, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(root.join("ci/busybox"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("ci/busybox: {e}"))?;
    if !o.status.success() {
        return Err("ci/busybox could not provide busybox-static".into());
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// An initrd holding the runner (from the default initrd) and busybox.
fn initrd(busybox: &str, engine: &str) -> Result<std::path::PathBuf, String> {
    let all = std::fs::read(env!("EXO_DEFAULT_INITRD")).map_err(|e| e.to_string())?;
    let runner = exo_abi::initrd::find(&all, "/bin/linux")
        .ok_or("the default initrd has no /bin/linux")?
        .to_vec();
    let bb = std::fs::read(busybox).map_err(|e| format!("{busybox}: {e}"))?;
    let rd = exo_images::cpio::archive(&[("bin/linux".into(), runner), ("bin/busybox".into(), bb)]);
    let path = std::env::temp_dir().join(format!(
        "exo-test-linux-{}-{engine}.cpio",
        std::process::id()
    ));
    std::fs::write(&path, rd).map_err(|e| e.to_string())?;
    Ok(path)
}

/// What busybox printed (standard output and error together) and its
/// status, run on this host as `args` with `input` in a new empty
/// directory, with a `bin/` beside it on PATH holding it as `busybox`.
fn on_host(
    busybox: &str,
    args: &[&str],
    input: &[u8],
    tag: &str,
) -> Result<(String, Option<i32>), String> {
    let dir =
        std::env::temp_dir().join(format!("exo-test-linux-host-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.join("work")).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(busybox, dir.join("bin/busybox")).map_err(|e| e.to_string())?;
    let out_path = dir.join("bin/output");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut host = Command::new(busybox);
    // The guest starts every program with default signal actions; so must
    // the host, whatever this test inherited (nohup ignores SIGHUP, a
    // background job SIGINT, and a shell cannot trap a signal ignored at
    // its start).
    // SAFETY: between fork and exec only async-signal-safe calls: signal
    // and sigprocmask, on no memory but a local empty set.
    unsafe {
        use std::os::unix::process::CommandExt;
        host.pre_exec(|| {
            for sig in 1..32 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut host = host
        .args(args)
        .current_dir(dir.join("work"))
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| e.to_string())?;
    use std::io::Write;
    let _ = host.stdin.take().map(|mut i| i.write_all(input));
    let status = host.wait().map_err(|e| e.to_string())?.code();
    let text = std::fs::read_to_string(&out_path).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((text, status))
}

/// `exo run -q` of `init` on `engine` with initrd `rd`, more options in
/// `extra` (a disk, a trace), `input` on standard input.
fn run_quiet(engine: &str, rd: &str, extra: &[&str], init: &str, input: &[u8]) -> Outcome {
    let mut args = vec![
        "run",
        "-q",
        "--engine",
        engine,
        "--timeout",
        "120",
        "--initrd",
        rd,
    ];
    args.extend_from_slice(extra);
    args.extend(["--init", init]);
    exo_piped(&args, input)
}

pub fn busybox_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::busybox_runs_unmodified_and_matches_the_host"),
        move || {
            let bb = busybox()?;
            let rd = initrd(&bb, engine)?;
            let disk = std::env::temp_dir().join(format!(
                "exo-test-linux-{}-{engine}.img",
                std::process::id()
            ));
            let runs = CORPUS
                .iter()
                .map(|(name, s)| (*name, vec!["sh"], s.as_bytes()))
                .chain(COMMANDS.iter().map(|c| (c[0], c.to_vec(), &b""[..])));
            let mut failed = Vec::new();
            for (name, args, input) in runs {
                let (want, want_status) = on_host(&bb, &args, input, engine)?;
                // A blank disk for each run: the file system is made anew.
                std::fs::write(&disk, vec![0u8; 16 << 20]).map_err(|e| e.to_string())?;
                let init = format!("/bin/linux /bin/busybox {}", args.join(" "));
                let disk_args = ["--disk", disk.to_str().unwrap()];
                let got = run_quiet(engine, rd.to_str().unwrap(), &disk_args, &init, input);
                if got.stdout != want || got.status != want_status {
                    failed.push(format!(
                        "{name} ({args:?}): on the host (status {want_status:?}):\n{want}\non exo (status {:?}):\n{}\n{}",
                        got.status,
                        got.stdout,
                        got.show()
                    ));
                }
            }
            let _ = std::fs::remove_file(&rd);
            let _ = std::fs::remove_file(&disk);
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("\n\n").into())
            }
        },
    )
}

/// `exo run --init "/bin/busybox sh"` at a terminal (a pseudo-terminal
/// here) is an interactive shell: a prompt, line editing, and Ctrl-C
/// interrupting a foreground `sleep 1000` and returning to the prompt
/// (were it not interrupted, the run would time out).
pub fn interactive_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::busybox_is_an_interactive_shell_at_a_terminal"),
        move || {
            let bb = busybox()?;
            // Our own initrd: the default one carries busybox only if it
            // was fetched before the build.
            let rd = initrd(&bb, &format!("{engine}-tty"))?;
            let prompt = "/ # ";
            let none = Duration::ZERO;
            let o = super::common::pty::exo_on_terminal_steps(
                &[
                    "run",
                    "-q",
                    "--engine",
                    engine,
                    "--timeout",
                    "120",
                    "--initrd",
                    rd.to_str().unwrap(),
                    "--init",
                    "/bin/busybox sh",
                ],
                &[
                    (prompt, 1, none, b"echo $((6*7))\r"),
                    (prompt, 2, none, b"sleep 1000\r"),
                    // Time for the shell to start it (a Ctrl-C typed
                    // before that interrupts the shell, as on Linux).
                    ("sleep 1000\n", 1, Duration::from_secs(3), b"\x03"),
                    (prompt, 3, none, b"echo back $((1+1))\r"),
                    ("back 2\n", 1, none, b"exit 5\r"),
                ],
                Duration::from_secs(130),
            );
            let _ = std::fs::remove_file(&rd);
            let text = &o.stdout;
            if o.status != Some(5) || !text.contains("\n42\n") || !text.contains("\nback 2\n") {
                return Err(format!("expected 42, back 2 and status 5\n{}", o.show()).into());
            }
            Ok(())
        },
    )
}

/// C test programs, built here with `musl-gcc -static` (Debian's
/// musl-tools): each runs on exo (`--init /bin/NAME`, started under the
/// Linux runner because it lacks exo's note) with a blank disk, and on this
/// host in an empty directory; output and status must be the same.
const C_PROGRAMS: &[(&str, &str, &[&str])] = &[
    ("files", include_str!("c/files.c"), MUSL),
    ("procs", include_str!("c/procs.c"), MUSL),
    ("signals", include_str!("c/signals.c"), MUSL),
    ("memory", include_str!("c/memory.c"), MUSL),
    // A static position-independent executable (glibc's): it is placed at
    // a base of the loader's choosing and relocates itself.
    (
        "memory-pie",
        include_str!("c/memory.c"),
        &["gcc", "-static-pie"],
    ),
];
const MUSL: &[&str] = &["musl-gcc", "-static"];

/// Whether musl-gcc is installed (the C programs' test needs it).
pub fn have_musl_gcc() -> bool {
    Command::new("musl-gcc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn c_programs_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::c_programs_built_with_musl_match_the_host"),
        move || {
            let dir =
                std::env::temp_dir().join(format!("exo-test-c-{}-{engine}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let all = std::fs::read(env!("EXO_DEFAULT_INITRD")).map_err(|e| e.to_string())?;
            let runner = exo_abi::initrd::find(&all, "/bin/linux")
                .ok_or("the default initrd has no /bin/linux")?
                .to_vec();
            let mut files = vec![("bin/linux".to_string(), runner)];
            for (name, source, cc) in C_PROGRAMS {
                let src = dir.join(format!("{name}.c"));
                let bin = dir.join(name);
                std::fs::write(&src, source).map_err(|e| e.to_string())?;
                let cc = Command::new(cc[0])
                    .args(&cc[1..])
                    .args(["-O2", "-o"])
                    .arg(&bin)
                    .arg(&src)
                    .arg("-lm")
                    .output()
                    .map_err(|e| format!("{}: {e}", cc[0]))?;
                if !cc.status.success() {
                    return Err(format!(
                        "building {name}: {}",
                        String::from_utf8_lossy(&cc.stderr)
                    )
                    .into());
                }
                files.push((
                    format!("bin/{name}"),
                    std::fs::read(&bin).map_err(|e| e.to_string())?,
                ));
            }
            let rd = dir.join("initrd.cpio");
            std::fs::write(&rd, exo_images::cpio::archive(&files)).map_err(|e| e.to_string())?;
            let disk = dir.join("disk.img");
            let mut failed = Vec::new();
            for (name, _, _) in C_PROGRAMS {
                let bin = dir.join(name);
                let (want, want_status) =
                    on_host(bin.to_str().unwrap(), &[], b"", &format!("{engine}-c"))?;
                std::fs::write(&disk, vec![0u8; 16 << 20]).map_err(|e| e.to_string())?;
                let init = format!("/bin/{name}");
                let disk_args = ["--disk", disk.to_str().unwrap()];
                let got = run_quiet(engine, rd.to_str().unwrap(), &disk_args, &init, b"");
                if got.stdout != want || got.status != want_status {
                    failed.push(format!(
                        "{name}: on the host (status {want_status:?}):\n{want}\non exo (status {:?}):\n{}\n{}",
                        got.status, got.stdout, got.show()
                    ));
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("\n\n").into())
            }
        },
    )
}

/// A Linux call the personality does not implement returns ENOSYS and is
/// recorded in the trace (class `libos`) with its number: busybox's
/// `nproc` asks for `sched_getaffinity` (204).
pub fn enosys_traced_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::unimplemented_linux_calls_are_traced"),
        move || {
            let bb = busybox()?;
            let rd = initrd(&bb, &format!("{engine}-enosys"))?;
            let trace = std::env::temp_dir().join(format!(
                "exo-test-enosys-{}-{engine}.trc",
                std::process::id()
            ));
            let t = trace.to_str().unwrap();
            let trace_args = ["--trace", t, "--trace-events", "libos"];
            let run = run_quiet(
                engine,
                rd.to_str().unwrap(),
                &trace_args,
                "/bin/busybox nproc",
                b"",
            );
            let show = super::common::exo(&["trace", "show", t]);
            let _ = std::fs::remove_file(&trace);
            let _ = std::fs::remove_file(&rd);
            if run.status != Some(0)
                || !show.stdout.contains("linux_enosys")
                || !show.stdout.contains("Linux call 204 not implemented")
            {
                return Err(format!("nproc:\n{}\ntrace:\n{}", run.show(), show.show()).into());
            }
            Ok(())
        },
    )
}

/// Programs and files on the XN disk: what busybox writes (a file, a copy
/// of itself) is there after a reboot, runs from there, and `exo xn cat`
/// reads it offline; a program `exo xn mkfs --add` put on a disk runs too,
/// and programs may write on that disk.
pub fn disk_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::linux_programs_persist_on_the_disk"),
        move || {
            let bb = busybox()?;
            let rd = initrd(&bb, &format!("{engine}-disk"))?;
            let rd = rd.to_str().unwrap();
            let dir = std::env::temp_dir().join(format!(
                "exo-test-linux-disk-{}-{engine}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let img = dir.join("disk.img");
            std::fs::write(&img, vec![0u8; 32 << 20]).map_err(|e| e.to_string())?;
            let disk = img.to_str().unwrap();
            let run = |script: &str| {
                run_quiet(
                    engine,
                    rd,
                    &["--disk", disk],
                    "/bin/busybox sh",
                    script.as_bytes(),
                )
            };
            let first = run("echo 'made on exo' > kept.txt\ncp /bin/busybox ./busybox\n");
            let second = run("cat kept.txt\n./busybox echo run from the disk\n");
            let cat = super::common::exo(&["xn", "cat", disk, "fs/home/kept.txt"]);
            let mkfs_img = dir.join("added.img");
            let added = mkfs_img.to_str().unwrap();
            let mkfs = super::common::exo(&[
                "xn", "mkfs", "--fs", "cffs", added, "--size", "16M", "--root", "fs", "--add", &bb,
            ]);
            let third = run_quiet(
                engine,
                rd,
                &["--disk", added],
                "/bin/busybox sh",
                b"/busybox echo added offline\necho changed > new.txt && cat new.txt\n",
            );
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(rd);
            let ok = first.status == Some(0)
                && second.stdout == "made on exo\nrun from the disk\n"
                && cat.stdout == "made on exo\n"
                && mkfs.status == Some(0)
                && third.stdout.contains("added offline\nchanged\n")
                && !third.stdout.contains("cannot make");
            if !ok {
                return Err(format!(
                    "first run:\n{}\nsecond run:\n{}\nxn cat:\n{}\nxn mkfs:\n{}\nrun from the added disk:\n{}",
                    first.show(),
                    second.show(),
                    cat.show(),
                    mkfs.show(),
                    third.show()
                )
                .into());
            }
            Ok(())
        },
    )
}
