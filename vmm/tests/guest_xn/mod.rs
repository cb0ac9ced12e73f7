//! XN end to end: a guest libFS session and attacks on a fresh disk image,
//! checked from the host with `exo xn`; and the crash test: the VMM is
//! killed in the middle of a write workload, the kernel reconstructs the
//! disk at the next boot, and every file synced before the kill is intact.

use super::common::{exo, Running};
use super::expect;
use libtest_mimic::Trial;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(180);

fn image(tag: &str, engine: &str, mib: u64) -> Result<PathBuf, String> {
    let p = std::env::temp_dir().join(format!(
        "exo-test-xn-{}-{tag}-{engine}.img",
        std::process::id()
    ));
    std::fs::File::create(&p)
        .and_then(|f| f.set_len(mib << 20))
        .map_err(|e| e.to_string())?;
    Ok(p)
}

pub fn session_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::xn_libfs_session_and_attacks"),
        move || {
            let img = image("session", engine, 16)?;
            let p = img.to_str().unwrap();
            let trace = img.with_extension("trc");
            let t = trace.to_str().unwrap();
            let run = |traced: bool| {
                let mut args = vec![
                    "run",
                    "--engine",
                    engine,
                    "--timeout",
                    "180",
                    "--disk",
                    p,
                    "--init",
                    "/bin/xn_check",
                ];
                if traced {
                    args.extend_from_slice(&["--trace", t, "--trace-events", "xn"]);
                }
                exo(&args)
            };
            let o = run(true);
            expect(
            &o,
            0,
            &[
                "xn_check: formatted the disk for XN",
                "xn_check: home/hello.txt written and synced",
                "xn_check: raw disk read by the root capability: Err(Busy)",
                "xn_check: the owner's public directory is readable: yes",
                "xn_check: the owner's public directory mapped read-only: yes, the same bytes",
                "map the owner's private file: refused (AccessDenied)",
                "map a block above user space: refused (BadRange)",
                "map a block not in the cache: refused (NotInCore)",
                "lock the owner's directory: refused (AccessDenied)",
                "evict the owner's private file: refused (AccessDenied)",
                "make the mapped directory writable: refused (AccessDenied)",
                "add an entry to the owner's directory: refused (AccessDenied)",
                "overwrite the owner's file data: refused (AccessDenied)",
                "unlink the owner's file: refused (AccessDenied)",
                "claim the owner's data block from its own tree: refused (NotFree)",
                "forge an entry pointing at the owner's inode with a plain write: refused (ProtectedBytes)",
                "lie to XN about what an allocation changes: refused (BogusUpdate)",
                "write a pointer to uninitialized metadata to disk: refused (Tainted)",
                "remove the owner's root from the catalogue: refused (AccessDenied)",
                "take free blocks off the free map without a parent: refused (AccessDenied)",
                "xn_check: its own empty root uninstalled: Ok(true)",
                "xn_check: its root, mapped while cached, unmapped once evicted: yes",
                "xn_check: locks its own root: Ok(())",
                "xn_check: attacks all refused",
                "xn_check: a lock is let go when its holder ends: yes",
                "xn_check: XN shut down cleanly",
            ],
        )?;
            // The trace holds every XN call of this scripted session, and
            // exactly the refusals the attacks provoke (plus four lookups of
            // names that do not exist, one after their root was removed).
            let stats = exo(&["trace", "stats", t]);
            let counts = super::common::trace_counts(&stats.stdout);
            let _ = std::fs::remove_file(&trace);
            let refusals: Vec<_> = counts
                .keys()
                .filter(|k| k.starts_with("xn_refused"))
                .collect();
            for (name, n) in [
                ("xn_call", 96),
                ("xn_refused AccessDenied", 7),
                ("xn_refused NotInCore", 1),
                ("xn_refused NotFree", 1),
                ("xn_refused ProtectedBytes", 1),
                ("xn_refused BogusUpdate", 1),
                ("xn_refused Tainted", 1),
                ("xn_refused NoSuchName", 4),
                // The kernel's own refusals: no XN before FORMAT, a page
                // that is not the caller's, a page it still maps, db_alloc
                // without the root capability, and one call's read or
                // allocation over its bound, and a mapping above user space.
                ("xn_refused kernel NoEnv", 1),
                ("xn_refused kernel Denied", 2),
                ("xn_refused kernel Busy", 1),
                ("xn_refused kernel Invalid", 3),
                // Inside XN: the lie is caught by the UDF check itself;
                // the session caches 11 blocks (the last an empty root that
                // is uninstalled, so evicted) and taints/cleans 4 twice.
                ("xn_udf_refused BogusUpdate", 1),
                ("xn_reg_insert", 11),
                ("xn_reg_evict", 1),
                ("xn_taint", 8),
                ("dropped", 0),
            ] {
                if counts.get(name) != Some(&n) || refusals.len() != 11 {
                    return Err(format!(
                        "trace: want {name} {n}, 11 kinds of refusal\n{}",
                        stats.show()
                    )
                    .into());
                }
            }
            let cat = exo(&["xn", "cat", p, "home/hello.txt"]);
            if cat.status != Some(0) || cat.stdout != "hello from the exo guest, through XN\n" {
                return Err(format!(
                    "the host does not read what the guest wrote\n{}",
                    cat.show()
                )
                .into());
            }
            let fsck = exo(&["xn", "fsck", p]);
            if fsck.status != Some(0) || !fsck.stdout.contains("clean") {
                return Err(format!("fsck after the session\n{}", fsck.show()).into());
            }
            // A second boot opens the XN disk as it was left.
            let o = run(false);
            expect(
                &o,
                0,
                &[
                    "exo: xn: disk of 4096 blocks",
                    "home's block read into our own page: yes, now the kernel's while cached",
                    "xn_check: attacks all refused",
                ],
            )?;
            let _ = std::fs::remove_file(&img);
            Ok(())
        },
    )
}

pub fn crash_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::xn_crash_mid_write_keeps_synced_files"),
        move || {
            let img = image("crash", engine, 32)?;
            let p = img.to_str().unwrap().to_string();
            let mut w = Running::exo(&[
                "run",
                "--engine",
                engine,
                "--timeout",
                "180",
                "--disk",
                &p,
                "--init",
                "/bin/xn_crash write",
            ])?;
            if !w.wait_for("synced f40", BOOT) {
                return Err(
                    format!("the workload did not get going\n{}", w.finish(BOOT).show()).into(),
                );
            }
            // Kill the VMM itself: QEMU's process, or exo when it is the VMM.
            if engine == "qemu" {
                let _ = Command::new("pkill")
                    .args(["-9", "-f", &format!("qemu-system-x86_64.*{p}")])
                    .status();
            } else {
                w.kill();
            }
            let killed = w.finish(Duration::from_secs(30));
            // Whole lines only: the kill may cut the last one ("synced f").
            let whole = killed.stdout.rsplit_once('\n').map_or("", |(done, _)| done);
            let synced: Vec<String> = whole
                .lines()
                .filter_map(|l| l.strip_prefix("xn_crash: synced "))
                .map(str::to_string)
                .collect();
            if killed.stdout.contains("exited with status 0") {
                return Err(
                    format!("the workload finished before the kill\n{}", killed.show()).into(),
                );
            }
            let o = exo(&[
                "run",
                "--engine",
                engine,
                "--timeout",
                "180",
                "--disk",
                &p,
                "--init",
                "/bin/xn_crash check",
            ]);
            expect(
                &o,
                0,
                &[
                    "exo: xn: disk not shut down cleanly: reconstructed (0 violations)",
                    "0 damaged",
                ],
            )?;
            for f in &synced {
                if !o.stdout.contains(&format!("xn_crash: {f} intact\n")) {
                    return Err(format!(
                        "{f} was synced before the crash but is not intact\n{}",
                        o.show()
                    )
                    .into());
                }
            }
            let fsck = exo(&["xn", "fsck", &p]);
            if fsck.status != Some(0) {
                return Err(format!("fsck after recovery\n{}", fsck.show()).into());
            }
            let _ = std::fs::remove_file(&img);
            Ok(())
        },
    )
}
