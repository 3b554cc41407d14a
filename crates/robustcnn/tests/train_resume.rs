//! Training runs on the embedded data: resume reproduces the uninterrupted run exactly; run-directory errors.
use robustcnn::config::Config;
use robustcnn::train::{self, checkpoint, RunOptions, METRICS_FILE};
use robustcnn::Error;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A short recipe: 1,200 training images (80% of the subset held out), 2 epochs of 19 batches.
fn small_recipe() -> Config {
    Config::load(
        None,
        &[
            "data.val_fraction=0.8".into(),
            "data.batch_size=64".into(),
            "train.epochs=2".into(),
            "train.log_every=5".into(),
            "optim.lr=0.05".into(),
            "train.seed=11".into(),
        ],
    )
    .unwrap()
}

fn opts(out: &Path, resume: bool, stop_after: Option<usize>) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume,
        interrupt: Arc::new(AtomicBool::new(false)),
        stop_after,
        progress: false,
        dist: None,
    }
}

/// metrics.jsonl without the wall-clock fields.
fn metrics_without_timing(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in ["time_s", "images_per_s", "loader_wait_fraction"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

#[test]
fn resume_after_interruption_reproduces_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("straight"), dir.path().join("interrupted"));
    let cfg = small_recipe();
    let straight = train::train(&cfg, &opts(&a, false, None)).unwrap();
    assert_eq!(straight.steps, 38);

    // Stop mid-way through the second epoch, then resume.
    let e = train::train(&cfg, &opts(&b, false, Some(25))).unwrap_err();
    assert!(matches!(e, Error::Interrupted(_)), "{e}");
    assert!(e.to_string().contains("stopped at step 25 of 38; continue with: robustcnn train --resume --out"), "{e}");
    assert!(!b.join("model.safetensors").exists());
    let resumed = train::train(&cfg, &opts(&b, true, None)).unwrap();

    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
    assert_eq!(straight.test, resumed.test);
    let (wa, wb) = (
        checkpoint::read(&a.join("model.safetensors")).unwrap(),
        checkpoint::read(&b.join("model.safetensors")).unwrap(),
    );
    assert_eq!(wa.len(), wb.len());
    for (name, t) in &wa {
        assert!(t.equal(&wb[name]), "{name} differs");
    }
    // The test accuracy is well above chance (10 classes) even after this short run.
    assert!(straight.test.top1 > 0.5, "{}", straight.test.top1);
    assert!(a.join("results/clean.json").is_file() && a.join("best.safetensors").is_file());
}

#[test]
fn run_directory_errors_come_before_any_training() {
    let dir = tempfile::tempdir().unwrap();
    let e = train::train(&small_recipe(), &opts(&dir.path().join("none"), true, None)).unwrap_err().to_string();
    assert!(e.ends_with("none: no checkpoint.safetensors to resume from"), "{e}");

    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let e = train::train(&small_recipe(), &opts(&dir.path().join("file/run"), false, None)).unwrap_err().to_string();
    assert!(e.contains("file/run: cannot create the run directory"), "{e}");

    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("config.toml"), b"").unwrap();
    let e = train::train(&small_recipe(), &opts(&taken, false, None)).unwrap_err().to_string();
    assert!(e.contains("taken: already holds a run; pass --resume to continue it"), "{e}");

    let mut cfg = small_recipe();
    cfg.data.batch_size = 100_000;
    let e = train::train(&cfg, &opts(&dir.path().join("big"), false, None)).unwrap_err().to_string();
    assert!(e.contains("data.batch_size 100000 is larger than the 1200 training samples"), "{e}");
}

#[test]
fn weights_from_another_model_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let spec = robustcnn::models::ModelSpec { in_channels: 1, num_classes: 10, mean: vec![0.5], std: vec![0.5] };
    // Model building draws from torch's global generator: hold its lock so the resume test beside this one stays exact.
    let build = |vs: &tch::nn::VarStore, name: &str, spec: &robustcnn::models::ModelSpec| {
        robustcnn::rng::with_torch_seed(0, &[], || robustcnn::models::build(&vs.root(), name, spec)).unwrap()
    };
    build(&vs, "small-cnn", &spec);
    let file = dir.path().join("w.safetensors");
    checkpoint::write_atomic(&file, &checkpoint::model_tensors(&vs)).unwrap();

    let other = tch::nn::VarStore::new(tch::Device::Cpu);
    build(&other, "wrn-16-4", &spec);
    let e = checkpoint::load_into(&other, &file, &checkpoint::read(&file).unwrap()).unwrap_err().to_string();
    assert!(e.contains("w.safetensors: missing tensor '"), "{e}");

    let wide = robustcnn::models::ModelSpec { num_classes: 5, ..spec };
    let five = tch::nn::VarStore::new(tch::Device::Cpu);
    build(&five, "small-cnn", &wide);
    let e = checkpoint::load_into(&five, &file, &checkpoint::read(&file).unwrap()).unwrap_err().to_string();
    assert!(e.contains("tensor 'fc2.bias' has shape [10], the model expects [5]"), "{e}");

    std::fs::write(dir.path().join("junk.safetensors"), b"garbage").unwrap();
    let e = checkpoint::read(&dir.path().join("junk.safetensors")).unwrap_err().to_string();
    assert!(e.contains("junk.safetensors: not a readable safetensors file"), "{e}");
}
