//! Helpers shared by the library's integration tests.
#![allow(dead_code)]
use robustcnn::config::Config;
use robustcnn::train::{self, RunOptions, METRICS_FILE};
use robustcnn::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Trains `cfg` once uninterrupted ("whole") and once stopped after `stop_after` steps and resumed
/// ("parts"); returns the directory holding both runs and their paths.
pub fn whole_and_resumed(cfg: &Config, stop_after: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let opts = |out: &Path, resume, stop_after| RunOptions {
        out: out.to_path_buf(),
        resume,
        interrupt: Arc::new(AtomicBool::new(false)),
        stop_after,
        progress: false,
    };
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    train::train(cfg, &opts(&whole, false, None)).unwrap();
    let stopped = train::train(cfg, &opts(&parts, false, Some(stop_after)));
    assert!(matches!(stopped, Err(Error::Interrupted(_))), "stops with a resumable checkpoint");
    train::train(cfg, &opts(&parts, true, None)).unwrap();
    (dir, whole, parts)
}

/// The values of `key` in a run's metrics stream, in order.
pub fn logged(run: &Path, key: &str) -> Vec<f64> {
    std::fs::read_to_string(run.join(METRICS_FILE))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()[key].as_f64())
        .collect()
}
