//! Training methods from the command line: composition by name, settings in config.toml, loss terms
//! in metrics.jsonl, one-line errors for impossible compositions.
mod common;
use common::{fails, ok};

fn metric_keys(run: &std::path::Path) -> String {
    std::fs::read_to_string(run.join("metrics.jsonl")).unwrap()
}

#[test]
fn tenet_trains_from_the_cli_and_records_its_resolved_settings_and_terms() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("tenet");
    let out = run.to_str().unwrap();
    ok(&[
        "train",
        "--quiet",
        "--method",
        "tenet",
        "--steps",
        "12",
        "--batch-size",
        "64",
        "--set",
        "method.tenet.switch=1",
        "--set",
        "train.log_every=6",
        "--out",
        out,
    ]);
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("[method.tenet]") && config.contains("stage = \"stage1\""), "{config}");
    let metrics = metric_keys(&run);
    assert!(metrics.contains("\"tenet_ce\"") && metrics.contains("\"tenet_orth\""), "{metrics}");
}

#[test]
fn impossible_compositions_are_refused_in_one_line() {
    let err = fails(&["train", "--method", "pgd-at+free-at", "--steps", "1", "--out", "/tmp/never-written"]);
    assert!(err.contains("pgd-at and free-at cannot be combined"), "{err}");
    assert!(!std::path::Path::new("/tmp/never-written").exists());
    let err = fails(&[
        "train",
        "--method",
        "tenet",
        "--set",
        "method.tenet.stage=\"stage9\"",
        "--steps",
        "1",
        "--out",
        "/tmp/never-written",
    ]);
    assert!(err.contains("method.tenet.stage") && err.contains("stages: stem, stage1, stage2, head"), "{err}");
}
