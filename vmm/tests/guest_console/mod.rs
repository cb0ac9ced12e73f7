//! The console as users have it: `exo run` at a terminal (a
//! pseudo-terminal here), with input piped in all at once, and with no
//! input at all. Each must end when the guest does, lose no byte, and keep
//! the guest's output (standard output) apart from exo's own (standard
//! error).

use super::common::pty::exo_on_terminal;
use super::common::{exo_piped, Outcome};
use libtest_mimic::Trial;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(130);

fn need(o: &Outcome, status: i32, needles: &[&str]) -> Result<(), String> {
    if o.status != Some(status) {
        return Err(format!(
            "expected exit status {status} (None: still running, killed)\n{}",
            o.show()
        ));
    }
    match needles.iter().find(|n| !o.stdout.contains(*n)) {
        Some(n) => Err(format!("expected {n:?}\n{}", o.show())),
        None => Ok(()),
    }
}

/// Typing `exit 3` at the shell on a terminal ends exo with status 3, and
/// a guest that stops at boot ends it too (the terminal is given back).
pub fn terminal_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::console_on_a_terminal_ends_with_the_guest"),
        move || {
            let run = ["run", "--engine", engine, "--timeout", "120"];
            let o = exo_on_terminal(
                &run,
                "exo$ ",
                &["echo typed at a terminal", "exit 3"],
                LIMIT,
            );
            need(
                &o,
                3,
                &["typed at a terminal", "exo: /bin/init exited with status 3"],
            )?;
            let mut stop = run.to_vec();
            stop.extend(["--cmdline", "exo.stop=boot"]);
            let o = exo_on_terminal(&stop, "exo$ ", &[], LIMIT);
            need(&o, 0, &["stopping after boot"])?;
            Ok(())
        },
    )
}

/// Input piped before the guest boots arrives whole; its end ends the
/// shell as Ctrl-D does; only the guest's output is on standard output.
pub fn piped_case(engine: &'static str) -> Trial {
    Trial::test(
        format!("{engine}::piped_input_arrives_whole_and_ends_the_shell"),
        move || {
            let run = ["run", "--engine", engine, "--timeout", "120"];
            let o = exo_piped(&run, b"ls\necho piped\n");
            need(
                &o,
                0,
                &[
                    "/bin/ls",
                    "exo$ echo piped",
                    "exo: /bin/init exited with status 0",
                ],
            )?;
            if o.stdout.contains("command not found") {
                return Err(format!("input was lost\n{}", o.show()).into());
            }
            if o.stdout.contains("exo: engine") || !o.stderr.contains("exo: engine") {
                return Err(
                    format!("exo's own messages belong on standard error\n{}", o.show()).into(),
                );
            }
            let o = exo_piped(&run, b"");
            need(&o, 0, &["exo$ ", "exo: /bin/init exited with status 0"])?;
            Ok(())
        },
    )
}
