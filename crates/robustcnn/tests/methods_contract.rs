//! The methods' contract, for every entry of `methods::METHODS`: a few steps on the embedded data
//! with a finite loss, its named loss terms in metrics.jsonl, and a run stopped mid-way that resumes
//! to exactly the uninterrupted run's metrics and weights. A new method is tested here without a
//! new test.
use robustcnn::config::Config;
use robustcnn::methods::{Role, METHODS};
use robustcnn::train::{self, checkpoint, RunOptions, METRICS_FILE};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// 162 training images (3 % of the subset, no validation split), 2 epochs of 6 batches, a log line
/// every 2 steps; TENET acts from the first step on every step, so its update is exercised.
fn recipe(method: &str) -> Config {
    let sets: Vec<String> = [
        format!("method.name=\"{method}\""),
        "data.val_fraction=0".into(),
        "data.train_fraction=0.03".into(),
        "data.batch_size=32".into(),
        "train.epochs=2".into(),
        "train.log_every=2".into(),
        "optim.lr=0.05".into(),
        "train.seed=7".into(),
    ]
    .into_iter()
    .chain(
        (method == "tenet")
            .then(|| ["method.tenet.switch=1".to_string(), "method.tenet.every=1".into()])
            .into_iter()
            .flatten(),
    )
    .collect();
    Config::load(None, &sets).unwrap()
}

fn opts(out: &Path, resume: bool, stop_after: Option<usize>) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume,
        interrupt: Arc::new(AtomicBool::new(false)),
        stop_after,
        progress: false,
    }
}

/// The step records of metrics.jsonl, without wall-clock fields.
fn steps(run: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    std::fs::read_to_string(run.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "step")
        .map(|v| {
            let mut m = v.as_object().unwrap().clone();
            for k in ["time_s", "images_per_s", "loader_wait_fraction"] {
                m.remove(k);
            }
            m
        })
        .collect()
}

#[test]
fn every_method_trains_logs_its_terms_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for m in METHODS {
        let cfg = recipe(m.name);
        let (a, b) = (dir.path().join(format!("{}-straight", m.name)), dir.path().join(format!("{}-stopped", m.name)));
        let straight = train::train(&cfg, &opts(&a, false, None)).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        let log = steps(&a);
        assert!(!log.is_empty(), "{}: no step records", m.name);
        for line in &log {
            assert!(line["loss"].as_f64().is_some_and(f64::is_finite), "{}: loss {}", m.name, line["loss"]);
            let terms: Vec<&String> =
                line.keys().filter(|k| !["event", "step", "epoch", "loss", "lr"].contains(&k.as_str())).collect();
            assert!(!terms.is_empty(), "{}: a step record without its named loss terms: {line:?}", m.name);
            for t in terms {
                assert!(line[t].as_f64().is_some_and(f64::is_finite), "{}: {t} = {}", m.name, line[t]);
            }
        }
        if m.role == Role::AfterUpdate {
            assert!(
                log.iter().any(|l| l.keys().any(|k| k.starts_with(m.name))),
                "{}: its own terms never logged",
                m.name
            );
        }

        // Stopped after 3 of the 12 steps (mid-epoch, between two step records), then resumed: the same run.
        assert!(train::train(&cfg, &opts(&b, false, Some(3))).is_err(), "{}: --stop-after", m.name);
        let resumed = train::train(&cfg, &opts(&b, true, None)).unwrap_or_else(|e| panic!("{}: resume: {e}", m.name));
        assert_eq!(steps(&a), steps(&b), "{}: resumed metrics differ", m.name);
        assert_eq!(straight.test, resumed.test, "{}", m.name);
        let (wa, wb) = (
            checkpoint::read(&a.join("model.safetensors")).unwrap(),
            checkpoint::read(&b.join("model.safetensors")).unwrap(),
        );
        for (name, t) in &wa {
            assert!(t.equal(&wb[name]), "{}: {name} differs after resuming", m.name);
        }
    }
}
