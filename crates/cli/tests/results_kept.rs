//! Evaluation results are never made from nothing and never silently lost (docs/results.md): every
//! zero-image or out-of-range request fails with one line and leaves results/ byte-identical, a
//! quick look is kept beside the full evaluation, `compare` uses the full one and says so, and every
//! metric any results file holds comes with a positive sample count.
mod common;
use common::{fails, ok, short_run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Keys that hold a metric computed over images.
const METRICS: [&str; 7] = ["accuracy", "robust_accuracy", "top1", "top5", "clean_accuracy", "mean_accuracy", "nll"];

/// Checks that every metric in `v` sits under a positive "samples" (its own object's or an enclosing one's).
fn metrics_have_samples(v: &Value, samples: Option<u64>, file: &Path, path: &str) {
    match v {
        Value::Object(m) => {
            let own = m.get("samples").and_then(Value::as_u64);
            if m.contains_key("samples") {
                assert!(own.is_some_and(|n| n > 0), "{}: {path}.samples is {:?}", file.display(), m["samples"]);
            }
            let samples = own.or(samples);
            for (k, x) in m {
                if METRICS.contains(&k.as_str()) && !x.is_null() {
                    assert!(samples.is_some_and(|n| n > 0), "{}: {path}.{k} has no sample count", file.display());
                }
                metrics_have_samples(x, samples, file, &format!("{path}.{k}"));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| metrics_have_samples(x, samples, file, path)),
        _ => {}
    }
}

#[test]
fn results_are_never_made_from_nothing_and_never_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    short_run(&r, "8");
    let attack = ["eval", "attack", &r, "--attack", "fgsm", "--eps", "2/255", "--no-sanity"];
    let corrupt = ["eval", "corruptions", &r, "--corruptions", "gaussian_noise", "--severities", "1,2"];
    ok(&attack);
    ok(&corrupt);
    let results = run.join("results");
    let full = snapshot(&results);

    // An empty -C set in the CIFAR-10-C layout: labels.npy with no rows.
    let empty = dir.path().join("empty-c");
    std::fs::create_dir_all(&empty).unwrap();
    corrupt::npy::write(&empty.join("labels.npy"), &[0], &[]).unwrap();
    let e = empty.display().to_string();
    let bad: Vec<(Vec<&str>, &str)> = vec![
        ([&attack[..], &["--limit", "0"]].concat(), "--limit 0: nothing to evaluate"),
        ([&corrupt[..], &["--limit", "0"]].concat(), "--limit 0: nothing to evaluate"),
        (vec!["eval", "clean", &r, "--limit", "0"], "--limit 0: nothing to evaluate"),
        (vec!["eval", "corruptions", &r, "--from", &e], "labels.npy: holds no labels, so there is nothing to evaluate"),
        (
            vec!["eval", "attack", &r, "--eps", "2"],
            "--eps 2: an ℓ∞ budget must lie in [0, 1], the pixel range of images in [0, 1]; did you mean 2/255?",
        ),
        (vec!["eval", "attack", &r, "--eps", "300/255"], "--eps 300/255: an ℓ∞ budget must lie in [0, 1]"),
        (
            vec!["eval", "attack", &r, "--attack", "pgd", "--norm", "l2", "--eps", "0.5,29"],
            "--eps 29: an ℓ2 budget must lie in [0, 28.00], the diagonal of images of 784 values in [0, 1]",
        ),
    ];
    for (args, expected) in &bad {
        let err = fails(args);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(snapshot(&results) == full, "{args:?} changed results/");
    }

    // A quick look is kept beside the full evaluation, which stays in the top-level files.
    let quick = ok(&[&attack[..], &["--limit", "10"]].concat());
    assert!(quick.contains("keeps the more complete one (1000 images"), "{quick}");
    let top = json(&results.join("attacks.json"));
    assert_eq!(top["samples"], 1000);
    assert_eq!(top["protocol"]["limit"], Value::Null);
    let index = json(&results.join("index.json"));
    let attacks: Vec<&Value> =
        index["evaluations"].as_array().unwrap().iter().filter(|e| e["kind"] == "attacks").collect();
    assert_eq!(attacks.len(), 2, "{index}");
    let small = attacks.iter().find(|e| e["samples"] == 10).expect("the quick look is listed");
    let kept = json(&results.join(small["dir"].as_str().unwrap()).join("attacks.json"));
    assert_eq!((kept["samples"].as_u64(), kept["protocol"]["limit"].as_u64()), (Some(10), Some(10)));
    assert_eq!(index["primary"]["attacks"], top["protocol"]["id"]);
    for name in ["attacks.json", "attacks.csv", "attack_samples.json", "attacks.svg"] {
        assert_eq!(std::fs::read(results.join(name)).unwrap(), full[&results.join(name)], "{name} was replaced");
    }
    let cmp = ok(&["compare", &r]);
    let id = top["protocol"]["id"].as_str().unwrap();
    assert!(
        cmp.contains(&format!("attacks from the most complete of its 2 evaluations (protocol {id}, 1000 images)")),
        "{cmp}"
    );
    assert!(cmp.contains("| images | | 1000 |"), "{cmp}");

    // A limit that keeps every image is the whole set's protocol, not a second one.
    let cleans = |i: &Value| i["evaluations"].as_array().unwrap().iter().filter(|e| e["kind"] == "clean").count();
    let before = cleans(&json(&results.join("index.json")));
    ok(&["eval", "clean", &r, "--limit", "5000"]);
    assert_eq!(json(&results.join("clean.json"))["protocol"]["limit"], Value::Null);
    assert_eq!(cleans(&json(&results.join("index.json"))), before, "--limit 5000 on 1000 images is no new protocol");

    // A validation-split evaluation is kept too, and never takes the test set's place.
    let val = ok(&["eval", "clean", &r, "--split", "val"]);
    assert!(
        val.contains("the val split") && val.starts_with("val accuracy ") && !val.contains("test accuracy"),
        "{val}"
    );
    assert_eq!(json(&results.join("clean.json"))["protocol"]["split"], "test");

    // A bf16 evaluation is kept beside the fp32 one, with its precision in its protocol.
    let fp32_attacks = std::fs::read(results.join("attacks.json")).unwrap();
    let bf16 = ok(&[&attack[..], &["--precision", "bf16"]].concat());
    assert!(bf16.contains("(in bf16, kept beside the fp32 results, never in place of them)"), "{bf16}");
    assert_eq!(std::fs::read(results.join("attacks.json")).unwrap(), fp32_attacks, "a bf16 evaluation became primary");
    let index = json(&results.join("index.json"));
    assert!(index["evaluations"].as_array().unwrap().iter().any(|e| e["protocol"]["precision"] == "bf16"), "{index}");
    let e = fails(&["eval", "clean", &r, "--precision", "fp16"]);
    assert!(e.contains("--precision fp16: float16 autocast (with its loss scaler) runs on CUDA devices"), "{e}");
    let never = dir.path().join("fp16-run");
    let e = fails(&["train", "--precision", "fp16", "--steps", "1", "--out", &never.display().to_string()]);
    assert!(e.contains("train.precision fp16: float16 autocast (with its loss scaler) runs on CUDA devices"), "{e}");
    assert!(!never.exists(), "a refused precision left a run directory");

    // Another run's weights evaluated in this run's folder are kept, never shown as this run's; the
    // run's own file given by path is its best weights.
    let other = dir.path().join("other");
    short_run(&other.display().to_string(), "2");
    let foreign = other.join("model.safetensors").display().to_string();
    let clean = std::fs::read(results.join("clean.json")).unwrap();
    let text = ok(&["eval", "clean", &r, "--weights", &foreign]);
    assert!(text.contains("kept beside the run's own results, never in place of them"), "{text}");
    assert_eq!(std::fs::read(results.join("clean.json")).unwrap(), clean, "another run's weights became primary");
    // Weights in a folder whose config.toml is not a run's are evaluated; their shapes are the check.
    let loose = dir.path().join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    std::fs::write(loose.join("config.toml"), "not a run's config").unwrap();
    std::fs::copy(other.join("model.safetensors"), loose.join("m.safetensors")).unwrap();
    let text = ok(&["eval", "clean", &r, "--weights", &loose.join("m.safetensors").display().to_string()]);
    assert!(text.contains("kept beside the run's own results"), "{text}");
    let own = run.join("best.safetensors").display().to_string();
    ok(&["eval", "clean", &r, "--weights", &own]);
    assert_eq!(json(&results.join("clean.json"))["protocol"]["weights"], "best");

    // --results puts an evaluation elsewhere and leaves the run's results/ alone.
    let before = snapshot(&results);
    let elsewhere = dir.path().join("elsewhere");
    ok(&["eval", "clean", &r, "--limit", "5", "--results", &elsewhere.display().to_string()]);
    assert_eq!(json(&elsewhere.join("clean.json"))["samples"], 5);
    assert!(snapshot(&results) == before);

    // Every metric in every results file comes with a positive sample count.
    for (file, bytes) in snapshot(&results).into_iter().chain(snapshot(&elsewhere)) {
        if file.extension().is_some_and(|x| x == "json") {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            metrics_have_samples(&v, None, &file, "");
        }
    }
}
