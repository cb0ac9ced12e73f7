//! The library file system from the shell: a blank disk is formatted for
//! XN by init, files are made, appended, renamed, removed and listed with
//! the posix-flavoured programs, survive a reboot, and read the same from
//! the host with `exo xn cat`.

use super::common::{exo, exo_typing};
use super::expect;
use libtest_mimic::Trial;
use std::time::Duration;

pub fn shell_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::files_from_the_shell_persist"),
        move || {
            let img = std::env::temp_dir()
                .join(format!("exo-test-fs-{}-{engine}.img", std::process::id()));
            std::fs::File::create(&img)
                .and_then(|f| f.set_len(16 << 20))
                .map_err(|e| e.to_string())?;
            let p = img.to_str().unwrap();
            let args = ["run", "--engine", engine, "--timeout", "180", "--disk", p];
            let session = [
                "mkdir /docs",
                "write /docs/note.txt hello exo file system",
                "write -a /docs/note.txt second line",
                "cat /docs/note.txt",
                "mv /docs/note.txt /docs/kept.txt",
                "write /scratch.txt gone soon",
                "rm /scratch.txt",
                "ls /docs",
                "ls /",
                "cat /scratch.txt",
                "rm -d /docs",
                "exit 0",
            ];
            let o = exo_typing(&args, "exo$ ", &session, Duration::from_secs(200));
            expect(
                &o,
                0,
                &[
                    "init: formatted the blank disk for XN; file system ready",
                    "hello exo file system\nsecond line\n",
                    "      34  file  kept.txt",
                    "dir   docs",
                    "cat: /scratch.txt: no such file or directory",
                    "rm: /docs: directory not empty",
                ],
            )?;
            if o.stdout.contains("scratch.txt\n") && o.stdout.contains("file  scratch") {
                return Err(format!("a removed file is still listed\n{}", o.show()).into());
            }
            // After a reboot the files are there; the disk was shut down cleanly.
            let o = exo_typing(
                &args,
                "exo$ ",
                &["cat /docs/kept.txt", "exit 0"],
                Duration::from_secs(200),
            );
            expect(
                &o,
                0,
                &[
                    "init: file system on the XN disk mounted",
                    "hello exo file system\nsecond line\n",
                ],
            )?;
            if o.stdout.contains("not shut down cleanly") {
                return Err(format!("the first boot did not shut XN down\n{}", o.show()).into());
            }
            let cat = exo(&["xn", "cat", p, "fs/docs/kept.txt"]);
            if cat.stdout != "hello exo file system\nsecond line\n" {
                return Err(format!("the host reads otherwise\n{}", cat.show()).into());
            }
            let fsck = exo(&["xn", "fsck", p]);
            if fsck.status != Some(0) || !fsck.stdout.contains("clean") {
                return Err(format!("fsck\n{}", fsck.show()).into());
            }
            let _ = std::fs::remove_file(&img);
            Ok(())
        },
    )
}
