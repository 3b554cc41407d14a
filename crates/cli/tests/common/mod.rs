//! Running the built `robustcnn` binary from the CLI tests.
#![allow(dead_code)]
use std::process::{Command, Output};

pub fn robustcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_robustcnn")).args(args).output().unwrap()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = robustcnn(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns its stderr, checking it is one line starting with "error: ".
pub fn fails(args: &[&str]) -> String {
    let out = robustcnn(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "{args:?}: {err}");
    err
}

/// Trains a short run (the embedded data, batch 64, half held out) of `steps` steps into `out`.
pub fn short_run(out: &str, steps: &str) {
    ok(&["train", "--quiet", "--steps", steps, "--batch-size", "64", "--val-fraction", "0.5", "--out", out]);
}
