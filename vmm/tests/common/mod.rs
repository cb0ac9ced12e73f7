//! Running the `exo` binary from tests.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// What one `exo` invocation printed and returned.
pub struct Outcome {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// A description for assertion messages.
    pub fn show(&self) -> String {
        format!("status {:?}\n--- stdout\n{}\n--- stderr\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Runs `exo ARGS...` with no standard input.
pub fn exo(args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_exo"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the exo binary");
    Outcome {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
