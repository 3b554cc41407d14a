//! Crash safety (RELIABILITY.md): `train`, `suite` and `corrupt --out` killed with SIGKILL at random
//! points, and `train` while it writes a checkpoint, leave only complete files behind, and a rerun
//! finishes with the uninterrupted run's results. ROBUSTCNN_KILL_ITERATIONS sets the number of kills
//! per test (default 4); the `kill:` lines on stdout count them.
mod common;
use robustcnn::train::{checkpoint, LoopState, CHECKPOINT_FILE, METRICS_FILE};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn iterations() -> usize {
    std::env::var("ROBUSTCNN_KILL_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(4)
}

/// A small deterministic generator for the kill times (xorshift64*).
struct Draws(u64);

impl Draws {
    fn fraction(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs `args` to completion and returns the wall time.
fn timed(args: &[&str]) -> Duration {
    let t = Instant::now();
    common::ok(args);
    t.elapsed()
}

/// Starts `args`, SIGKILLs it after `after` unless it ends first; true when it was killed.
fn kill_after(args: &[&str], after: Duration) -> bool {
    let mut child = spawn(args);
    let t = Instant::now();
    while t.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{args:?} failed on its own");
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

/// Starts `args` and SIGKILLs it as soon as `file` appears; true when it was killed while `file`
/// still existed afterwards (the kill landed mid-write), None when the command ended first.
fn kill_when_present(args: &[&str], file: &Path) -> Option<bool> {
    let mut child = spawn(args);
    loop {
        if file.exists() {
            child.kill().unwrap();
            child.wait().unwrap();
            return Some(file.exists());
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{args:?} failed on its own");
            return None;
        }
    }
}

/// metrics.jsonl without the wall-clock fields.
fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join(METRICS_FILE)).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in ["time_s", "images_per_s", "loader_wait_fraction"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

/// The step of the run's checkpoint, after checking that it reads and holds a loop state.
fn checkpoint_step(run: &Path) -> Option<usize> {
    let path = run.join(CHECKPOINT_FILE);
    if !path.exists() {
        return None;
    }
    let tensors = checkpoint::read(&path).unwrap_or_else(|e| panic!("a killed run left a broken checkpoint: {e}"));
    let state = checkpoint::state_of(&path, &tensors).unwrap();
    let st: LoopState = serde_json::from_value(state["loop"].clone()).unwrap();
    Some(st.step)
}

/// 36 steps: four epochs of 9 batches (540 training images, 60 held out), so four checkpoints.
const TRAIN: &[&str] = &[
    "train",
    "--quiet",
    "--steps",
    "36",
    "--batch-size",
    "64",
    "--val-fraction",
    "0.1",
    "--seed",
    "5",
    "--set",
    "data.train_fraction=0.1",
    "--set",
    "train.log_every=5",
    "--out",
];

fn train_args(out: &Path, resume: bool) -> Vec<String> {
    let mut a: Vec<String> = TRAIN.iter().map(|s| s.to_string()).collect();
    a.push(out.display().to_string());
    if resume {
        a.push("--resume".into());
    }
    a
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Resumes `run` to the end, then checks it against the uninterrupted run `straight`.
fn finish_and_compare(run: &Path, straight: &Path) {
    if !run.join("results/clean.json").exists() {
        common::ok(&refs(&train_args(run, true)));
    }
    assert_eq!(metrics(run), metrics(straight));
    for f in ["model.safetensors", "best.safetensors"] {
        assert!(std::fs::read(run.join(f)).unwrap() == std::fs::read(straight.join(f)).unwrap(), "{f} differs");
    }
    let clean = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("results/clean.json")).unwrap()).unwrap()
    };
    assert_eq!(clean(run)["top1"], clean(straight)["top1"]);
}

#[test]
fn training_killed_at_random_points_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    let took = timed(&refs(&train_args(&straight, false)));
    let mut draws = Draws(0x9E37_79B9_7F4A_7C15);
    let (mut kills, mut finished, mut last_step) = (0, 0, 0);
    while kills < iterations() {
        // A new run is created; a killed one is resumed, with or without a checkpoint.
        let args = train_args(&killed, killed.exists());
        if kill_after(&refs(&args), took.mul_f64(0.05 + 0.9 * draws.fraction())) {
            kills += 1;
            let step = checkpoint_step(&killed).unwrap_or(0);
            assert!(step >= last_step, "the checkpoint went back from step {last_step} to {step}");
            last_step = step;
        } else {
            // It finished before the kill: check it, then start a new one.
            finish_and_compare(&killed, &straight);
            std::fs::remove_dir_all(&killed).unwrap();
            (finished, last_step) = (finished + 1, 0);
        }
    }
    finish_and_compare(&killed, &straight);
    println!(
        "kill: train, {kills} kills at random points, {} runs finished identical to the uninterrupted one",
        finished + 1
    );
}

#[test]
fn training_killed_while_writing_a_checkpoint_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    common::ok(&refs(&train_args(&straight, false)));
    let tmp = killed.join("checkpoint.safetensors.tmp");
    let (mut kills, mut mid_write) = (0, 0);
    for i in 0..iterations() {
        let _ = std::fs::remove_file(&tmp);
        let before = checkpoint_step(&killed);
        let Some(during) = kill_when_present(&refs(&train_args(&killed, i > 0)), &tmp) else { break };
        kills += 1;
        mid_write += during as usize;
        // Killed mid-write: the checkpoint is the previous complete one, or the new one if the rename landed.
        let after = checkpoint_step(&killed);
        assert!(after >= before, "checkpoint went from {before:?} to {after:?}");
    }
    println!("kill: checkpoint writes, {kills} kills as the temporary file appeared, {mid_write} of them mid-write");
    assert!(kills > 0);
    finish_and_compare(&killed, &straight);
}

/// Writes a tiny suite recipe (two methods, two epochs of 9 batches, a small protocol) into `dir`.
fn tiny_suite(dir: &Path) -> PathBuf {
    let recipe = dir.join("suite.toml");
    std::fs::write(
        &recipe,
        r#"[suite]
name = "kill test"
methods = ["baseline", "lfm"]
seeds = [0]

[evaluate]
limit = 100
corruptions = "gaussian_noise,contrast"
severities = [1, 3, 5]
attacks = ["fgsm"]
eps = ["2/255"]
large_budget_check = false

[data]
dataset = "fashion-mnist-mini"
train_fraction = 0.1
val_fraction = 0.1
batch_size = 64

[train]
steps = 18
"#,
    )
    .unwrap();
    recipe
}

/// Every run's clean accuracy, corruption cells and attack results in a suite folder.
fn suite_numbers(out: &Path) -> Vec<(String, serde_json::Value)> {
    let mut all = Vec::new();
    for run in robustcnn::report::results::find_runs(out).unwrap() {
        let r = robustcnn::report::results::RunResults::load(&run).unwrap();
        let cells: Vec<_> = r.cells().iter().map(|c| (c.corruption.clone(), c.severity, c.accuracy)).collect();
        let attacks: Vec<_> = r.attacks.iter().map(|a| (a.attack.clone(), a.eps, a.robust_accuracy)).collect();
        all.push((r.method.clone(), serde_json::json!({"clean": r.clean, "cells": cells, "attacks": attacks})));
    }
    all
}

#[test]
fn a_suite_killed_at_random_points_finishes_with_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = tiny_suite(dir.path());
    let (a, b) = (dir.path().join("straight"), dir.path().join("killed"));
    let args =
        |out: &Path| vec!["suite".to_string(), recipe.display().to_string(), "--out".into(), out.display().to_string()];
    let took = timed(&refs(&args(&a)));
    let mut draws = Draws(0xD1B5_4A32_D192_ED03);
    let na = suite_numbers(&a);
    assert_eq!(na.len(), 2);
    let (mut kills, mut finished) = (0, 0);
    while kills < iterations() {
        if kill_after(&refs(&args(&b)), took.mul_f64(0.05 + 0.9 * draws.fraction())) {
            kills += 1;
            for run in robustcnn::report::results::find_runs(&b).unwrap_or_default() {
                checkpoint_step(&run);
            }
        } else {
            assert_eq!(suite_numbers(&b), na);
            std::fs::remove_dir_all(&b).unwrap();
            finished += 1;
        }
    }
    common::ok(&refs(&args(&b)));
    assert_eq!(suite_numbers(&b), na);
    println!("kill: suite, {kills} kills at random points, {} suites finished with the same numbers", finished + 1);
}

#[test]
fn corrupt_out_killed_at_random_points_leaves_no_truncated_npy() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("straight"), dir.path().join("killed"));
    let args = |out: &Path| {
        vec!["corrupt", "--dataset", "fashion-mnist-mini", "--out"]
            .into_iter()
            .map(String::from)
            .chain([out.display().to_string()])
            .collect::<Vec<_>>()
    };
    let took = timed(&refs(&args(&a)));
    let mut draws = Draws(0x94D0_49BB_1331_11EB);
    let (mut kills, mut complete_seen, mut finished) = (0, 0, 0);
    while kills < iterations() {
        if !kill_after(&refs(&args(&b)), took.mul_f64(0.05 + 0.9 * draws.fraction())) {
            same_files(&a, &b);
            std::fs::remove_dir_all(&b).unwrap();
            finished += 1;
            continue;
        }
        kills += 1;
        // Every .npy present is whole: its header's shape matches its size, and it is the final shape.
        for f in std::fs::read_dir(&b).into_iter().flatten() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "npy") {
                let shape = corrupt::npy::read_shape(&p).unwrap_or_else(|e| panic!("truncated file left behind: {e}"));
                let want = if p.ends_with("labels.npy") { vec![5000] } else { vec![5000, 28, 28, 1] };
                assert_eq!(shape, want, "{}", p.display());
                complete_seen += 1;
            }
        }
    }
    common::ok(&refs(&args(&b)));
    same_files(&a, &b);
    println!(
        "kill: corrupt --out, {kills} kills at random points, {complete_seen} complete .npy files checked, {} outputs identical",
        finished + 1
    );
}

/// The folders hold the same files (19 corruptions, labels and the manifest) with the same bytes.
fn same_files(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d).unwrap().map(|f| f.unwrap().path()).collect();
        v.sort();
        v
    };
    let (fa, fb) = (names(a), names(b));
    assert_eq!(fa.len(), 21, "{fa:?}");
    assert_eq!(
        fa.iter().map(|p| p.file_name()).collect::<Vec<_>>(),
        fb.iter().map(|p| p.file_name()).collect::<Vec<_>>()
    );
    for (x, y) in fa.iter().zip(&fb) {
        assert!(std::fs::read(x).unwrap() == std::fs::read(y).unwrap(), "{} differs", y.display());
    }
}
