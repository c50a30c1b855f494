//! Helpers for the operations tests (t60–t69): run the `vexil` binary as a
//! client and read what it printed and how it exited.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// What one `vexil` run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Panics (showing the output) unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `vexil` command with no inherited client settings.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vexil"));
    for v in [
        "VEXIL_URL",
        "VEXIL_TOKEN",
        "VEXIL_OUTPUT",
        "VEXIL_CLI_CONFIG",
        "VEXIL_PROJECT",
        "VEXIL_ENV",
    ] {
        c.env_remove(v);
    }
    // No user config file is read (an empty file: a missing one named by
    // VEXIL_CLI_CONFIG is refused).
    c.env("VEXIL_CLI_CONFIG", "/dev/null");
    c
}

/// Runs `vexil --url URL --token TOKEN ARGS…`.
pub fn vexil(url: &str, token: &str, args: &[&str]) -> Run {
    let out = command()
        .args(["--url", url, "--token", token])
        .args(args)
        .output()
        .expect("running vexil");
    finish(out)
}

/// Runs `vexil ARGS…` with extra environment variables.
pub fn vexil_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    finish(c.output().expect("running vexil"))
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}
