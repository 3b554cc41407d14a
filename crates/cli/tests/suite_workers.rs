//! Several workers on one suite directory (docs/distributed.md §4): each cell is trained once, a
//! killed worker's cell is taken over and resumed, and one report is written at the end.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RECIPE: &str = r#"
[suite]
methods = ["baseline", "lfm"]
seeds = [0, 1]
train_fractions = [0.1]

[evaluate]
limit = 40
corruptions = ""
attacks = []

[data]
batch_size = 64
val_fraction = 0.0

[train]
epochs = 3
"#;

fn worker(recipe: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .args(["suite", &recipe.display().to_string(), "--out", &out.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Each run's metrics stream, by run directory.
fn streams(out: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![out.join("runs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "metrics.jsonl") {
                found.push((p.parent().unwrap().display().to_string(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    found
}

fn each_cell_trained_once(out: &Path) {
    let runs = streams(out);
    assert_eq!(runs.len(), 4, "{runs:?}");
    for (dir, metrics) in &runs {
        let starts = metrics.lines().filter(|l| l.contains("\"event\":\"start\"")).count();
        let epochs = metrics.lines().filter(|l| l.contains("\"event\":\"epoch\"")).count();
        assert_eq!((starts, epochs), (1, 3), "{dir}: {metrics}");
    }
    assert!(out.join("report.html").is_file() && out.join("comparison.json").is_file());
    let left: Vec<_> = std::fs::read_dir(out.join("claims")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "claims left behind: {left:?}");
}

#[test]
fn two_workers_share_the_cells_and_train_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("suite.toml");
    std::fs::write(&recipe, RECIPE).unwrap();
    let out = dir.path().join("s");
    let (a, b) = (worker(&recipe, &out), worker(&recipe, &out));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let trained = |o: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("— to train (")).map(String::from).collect()
    };
    let (ta, tb) = (trained(&a), trained(&b));
    assert_eq!(ta.len() + tb.len(), 4, "each cell started once: {ta:?} {tb:?}");
    each_cell_trained_once(&out);
}

#[test]
fn a_killed_workers_cell_is_taken_over_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("suite.toml");
    std::fs::write(&recipe, RECIPE).unwrap();
    let out = dir.path().join("s");
    let mut a = worker(&recipe, &out);
    let pid = format!(":{}", a.id());
    // Kill the first worker once a cell it holds has a checkpoint.
    let started = Instant::now();
    let held_with_checkpoint = || {
        std::fs::read_dir(out.join("claims")).ok()?.flatten().find_map(|e| {
            let holder = std::fs::read_to_string(e.path()).ok()?;
            let run = e.file_name().to_string_lossy().trim_end_matches(".claim").replace("__", "/");
            (holder.contains(&pid) && out.join("runs").join(&run).join("checkpoint.safetensors").is_file())
                .then_some(run)
        })
    };
    let run = loop {
        if let Some(r) = held_with_checkpoint() {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no checkpoint in a claimed cell");
        std::thread::sleep(Duration::from_millis(20));
    };
    a.kill().unwrap();
    a.wait().unwrap();
    let b = worker(&recipe, &out).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&b.stdout);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(text.contains("taking over from") && text.contains("— resume ("), "{run}: {text}");
    each_cell_trained_once(&out);
}
