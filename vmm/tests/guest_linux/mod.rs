//! Unmodified Linux programs on the library OS's Linux personality: Debian's
//! busybox-static (fetched by `ci/busybox`) runs on exo under `/bin/linux`
//! and, the same binary, on this host; their output must be byte-identical
//! (`exo run -q`: the console carries the program's output alone).

use super::common::exo_piped;
use libtest_mimic::Trial;
use std::process::{Command, Stdio};

/// Shell scripts for `busybox sh` on standard input: builtins only (no
/// fork yet), with the features scripts use.
const SCRIPTS: &[&str] = &[
    "echo \"hello from busybox\"\nx=$((6*7)); echo \"six times seven is $x\"\nprintf '%s-%d|%5.2f\\n' abc 42 3.14159\n",
    "f() { echo \"in f: $1 $#\"; return 3; }; f one two; echo \"status $?\"\nfor i in 1 2 3; do printf '%s,' $i; done; echo\ncase foo.txt in *.txt) echo text;; *) echo other;; esac\n",
    "i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo \"i=$i\"\nset -- a b c; echo \"$# args: $*\"; shift; echo \"$1\"\ns=hello; echo \"${#s} ${s%lo} ${s#he} ${s:-unset} ${t:-default}\"\n[ -n \"$s\" ] && echo nonempty || echo empty\nexit 7\n",
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

pub fn busybox_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::busybox_runs_unmodified_and_matches_the_host"),
        move || {
            let bb = busybox()?;
            let rd = initrd(&bb, engine)?;
            let runs = SCRIPTS
                .iter()
                .map(|s| (vec!["sh"], s.as_bytes()))
                .chain(COMMANDS.iter().map(|c| (c.to_vec(), &b""[..])));
            for (args, input) in runs {
                let mut host = Command::new(&bb)
                    .args(&args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .map_err(|e| e.to_string())?;
                use std::io::Write;
                let _ = host.stdin.take().map(|mut i| i.write_all(input));
                let want = host.wait_with_output().map_err(|e| e.to_string())?;
                let init = format!("/bin/linux /bin/busybox {}", args.join(" "));
                let got = exo_piped(
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
                        &init,
                    ],
                    input,
                );
                // Quiet: the console is the program's output alone.
                let (want_out, got_out) =
                    (String::from_utf8_lossy(&want.stdout), got.stdout.clone());
                if got_out != want_out || got.status != want.status.code() {
                    let _ = std::fs::remove_file(&rd);
                    return Err(format!(
                        "busybox {args:?}: on the host (status {:?}):\n{want_out}\non exo (status {:?}):\n{got_out}\n{}",
                        want.status.code(),
                        got.status,
                        got.show()
                    )
                    .into());
                }
            }
            let _ = std::fs::remove_file(&rd);
            Ok(())
        },
    )
}
