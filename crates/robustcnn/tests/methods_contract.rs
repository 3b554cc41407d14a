//! The methods' contract, for every entry of `methods::METHODS`: a few steps on the embedded data
//! with a finite loss, its named loss terms in metrics.jsonl, and a run stopped mid-way that resumes
//! to exactly the uninterrupted run's metrics and weights. A new method is tested here without a
//! new test.
mod common;
use robustcnn::config::Config;
use robustcnn::methods::{Role, METHODS};
use robustcnn::train::{checkpoint, METRICS_FILE};
use std::path::Path;

/// Settings that make a method act on a short run, or keep its cost near the others'.
fn short_run(method: &str) -> &'static [&'static str] {
    match method {
        // TENET acts from the first step on every step, so its update is exercised.
        "tenet" => &["method.tenet.switch=1", "method.tenet.every=1"],
        // Two replays and two PGD steps exercise the same code as the defaults, 8 replays and 7 steps.
        "free-at" => &["method.adversarial.replays=2"],
        "pgd-at" => &["method.adversarial.steps=2"],
        _ => &[],
    }
}

/// 162 training images (3 % of the subset, no validation split), 2 epochs of 6 batches, a log line
/// every 2 steps, and the method's [`short_run`] settings.
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
    .chain(short_run(method).iter().map(|s| s.to_string()))
    .collect();
    Config::load(None, &sets).unwrap()
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
    for m in METHODS {
        // Stopped after 3 of the 12 steps (mid-epoch, between two step records), then resumed.
        let (_dir, a, b) = common::whole_and_resumed(&recipe(m.name), 3);
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
        if m.role() == Role::AfterUpdate {
            assert!(
                log.iter().any(|l| l.keys().any(|k| k.starts_with(m.name))),
                "{}: its own terms never logged",
                m.name
            );
        }
        assert_eq!(steps(&a), steps(&b), "{}: resumed metrics differ", m.name);
        let clean = |run: &Path| std::fs::read(run.join("results/clean.json")).unwrap();
        assert_eq!(clean(&a), clean(&b), "{}: the resumed run's test evaluation differs", m.name);
        let (wa, wb) = (
            checkpoint::read(&a.join("model.safetensors")).unwrap(),
            checkpoint::read(&b.join("model.safetensors")).unwrap(),
        );
        for (name, t) in &wa {
            assert!(t.equal(&wb[name]), "{}: {name} differs after resuming", m.name);
        }
    }
}
