//! Helpers shared by the library's integration tests.
#![allow(dead_code)]
use robustcnn::config::Config;
use robustcnn::train::{self, checkpoint, RunOptions, METRICS_FILE};
use robustcnn::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use tch::Tensor;

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
        dist: None,
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

/// A small CNN trained for two short epochs on the embedded data, shared by the tests of this file.
pub fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = dir.join("run");
        let cfg = Config::load(
            None,
            &["data.val_fraction=0.2".into(), "train.epochs=2".into(), "optim.lr=0.05".into(), "train.seed=5".into()],
        )
        .unwrap();
        let opts = RunOptions {
            out: out.clone(),
            resume: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            stop_after: None,
            dist: None,
            progress: false,
        };
        train::train(&cfg, &opts).unwrap();
        out
    })
}

/// The trained model and the first `n` test images (x, y, ids).
pub fn model_and_batch(n: usize) -> (train::Prepared, Tensor, Tensor, Vec<u64>) {
    let run = train::RunDir::open(trained_run()).unwrap();
    let p = train::prepare(&run.read_config().unwrap()).unwrap();
    let file = run.dir.join("model.safetensors");
    checkpoint::load_into(&p.vs, &file, &checkpoint::read(&file).unwrap()).unwrap();
    let test = p.test.select(&(0..n).collect::<Vec<_>>());
    let spec = robustcnn::data::loader::LoaderSpec::evaluation(n);
    let b = robustcnn::data::loader::make_batch(&test, &(0..n).collect::<Vec<_>>(), &spec, 0);
    (p, b.images, b.labels, (0..n as u64).collect())
}
