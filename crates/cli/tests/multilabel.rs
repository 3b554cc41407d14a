//! The benchmarks' datasets from the command line on fixtures in their published layouts: `data
//! info`, a multi-label PASCAL VOC run trained with BCE and evaluated as mAP (clean and under
//! corruptions), the methods and attacks refused on it, and a two-method suite through report.html.
mod common;
#[path = "../../robustcnn/tests/common/layouts.rs"]
mod layouts;
use common::{fails, ok};
use std::path::Path;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn data_info_describes_each_layout_from_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let voc = layouts::voc_default(&dir.path().join("voc"));
    let text = ok(&["data", "info", "voc2012", "--data-dir", voc.to_str().unwrap()]);
    assert!(text.contains("train: 12 images") && text.contains("multi-label over 20 classes"), "{text}");
    assert!(text.contains("difficult"), "{text}");
    let cub = layouts::cub(&dir.path().join("cub"));
    let text = ok(&["data", "info", "cub200-bbox", "--data-dir", cub.to_str().unwrap()]);
    assert!(text.contains("train: 9 images, 3 classes") && text.contains("bounding_boxes.txt"), "{text}");
    let inet = layouts::imagenet(&dir.path().join("inet"), Some("LOC_val_solution.csv"));
    let text = ok(&["data", "info", "imagenet", "--data-dir", inet.to_str().unwrap()]);
    assert!(text.contains("val: 6 images") && text.contains("LOC_val_solution.csv"), "{text}");
    let e = fails(&["data", "info", "imagenet", "--data-dir", dir.path().join("none").to_str().unwrap()]);
    assert!(e.contains("imagenet: no train in"), "{e}");
}

const SIZE: &str = "data.image_size=[16, 16]";

/// `train` on the VOC fixture in `data` (16 px, small CNN, batch 4) into `out`, with `rest`.
fn voc_train<'a>(data: &'a str, out: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--quiet", "--dataset", "voc2012", "--data-dir", data, "--set", SIZE];
    args.extend(["--model", "small-cnn", "--batch-size", "4", "--out", out]);
    args.extend(rest);
    args
}

#[test]
fn a_voc_run_trains_with_bce_and_reports_map_clean_and_under_corruptions() {
    let dir = tempfile::tempdir().unwrap();
    let data = layouts::voc_default(dir.path());
    let run = dir.path().join("run");
    let (d, r) = (data.to_str().unwrap(), run.to_str().unwrap());
    let base = ["train", "--quiet", "--dataset", "voc2012", "--data-dir", d, "--set", SIZE, "--model", "small-cnn"];
    let mut args = base.to_vec();
    args.extend(["--steps", "4", "--batch-size", "4", "--val-fraction", "0.25", "--out", r]);
    ok(&args);
    let clean = json(&run.join("results/clean.json"));
    let m = &clean["multi_label"];
    assert_eq!(m["ap_method"], "all-points");
    let map = m["map"].as_f64().unwrap();
    // The 8 val images have dog, cat and person; the other 17 classes have no positives.
    assert_eq!(m["classes_without_positives"].as_array().unwrap().len(), 17);
    let aps: Vec<f64> = m["per_class_ap"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect();
    assert_eq!(aps.len(), 3);
    assert!((map - aps.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    let csv = std::fs::read_to_string(run.join("results/clean_per_class.csv")).unwrap();
    assert!(csv.starts_with("class,ap,positives\naeroplane,,0\n"), "{csv}");
    assert!(!run.join("results/confusion.csv").exists());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"val_map\"") && metrics.contains("\"test_map\""), "{metrics}");

    let text = ok(&["eval", "clean", r, "--ap", "11-point"]);
    assert!(text.contains("test mAP") && text.contains("11-point AP over 3 classes"), "{text}");
    assert!(text.contains("no positives, left out: aeroplane"), "{text}");
    let index = std::fs::read_to_string(run.join("results/index.json")).unwrap();
    assert!(index.contains("11-point"), "the AP definition is part of the protocol: {index}");
    let eleven = json(&run.join("results/clean.json"));
    assert_eq!(eleven["multi_label"]["ap_method"], "11-point");
    let kept = std::fs::read_dir(run.join("results/evals")).unwrap().flatten();
    let clean_evals = kept.filter(|e| e.file_name().to_string_lossy().starts_with("clean-")).count();
    assert_eq!(clean_evals, 2, "the all-points evaluation is kept beside the 11-point one");
    ok(&["eval", "corruptions", r, "--corruptions", "gaussian_noise,contrast", "--severities", "1,5"]);
    let c = json(&run.join("results/corruptions.json"));
    assert_eq!(c["metric"], "mAP");
    assert!((c["clean_accuracy"].as_f64().unwrap() - map).abs() < 1e-12, "clean mAP is the reference");
    assert_eq!(c["cells"].as_array().unwrap().len(), 4);
    assert!(c["mce_unnormalized"].is_null());

    let text = ok(&["eval", "attack", r, "--attack", "fgsm,pgd", "--eps", "1/255,8/255", "--steps", "3"]);
    assert!(text.contains("robust mAP") && text.contains("large-budget check"), "{text}");
    let a = json(&run.join("results/attacks.json"));
    assert_eq!(a["metric"], "mAP");
    assert!((a["clean_accuracy"].as_f64().unwrap() - map).abs() < 1e-6, "the attacked set's clean mAP");
    let results = a["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for x in results {
        assert!(x["max_perturbation"].as_f64().unwrap() <= x["eps"].as_f64().unwrap() + 1e-6);
    }
    let robust = |i: usize| results[i]["robust_accuracy"].as_f64().unwrap();
    // PGD at 8/255 ascends the multi-label loss: it lowers mAP, more than at 1/255.
    assert!(robust(3) < map && robust(3) <= robust(2) + 0.01, "{results:?}");
    let check = &a["large_budget_check"];
    assert!(check["robust_map"].as_f64().unwrap() <= check["chance"].as_f64().unwrap() + 0.05, "{check}");
    for (flag, value) in [("--attack", "apgd-ce"), ("--loss", "dlr"), ("--restarts", "2")] {
        let mut args = vec!["eval", "attack", r, "--eps", "2/255", flag, value];
        if flag != "--attack" {
            args.extend(["--attack", "pgd"]);
        }
        let e = fails(&args);
        assert!(e.contains("multi-label task is attacked by fgsm and pgd"), "{e}");
    }
    let t = dir.path().join("t");
    let mut tenet = base.to_vec();
    tenet.extend(["--method", "tenet", "--steps", "1", "--out", t.to_str().unwrap()]);
    let e = fails(&tenet);
    assert!(e.contains("tenet needs one label per image") && e.contains("lfm"), "{e}");
    assert!(!t.exists(), "a refused run leaves nothing behind");
}

#[test]
fn a_multi_label_suite_compares_map_through_report_html() {
    let dir = tempfile::tempdir().unwrap();
    let data = layouts::voc_default(dir.path());
    let recipe = format!(
        r#"
[suite]
name = "voc fixture"
methods = ["baseline", "lfm"]
seeds = [0]
baseline = "baseline"

[evaluate]
corruptions = "gaussian_noise,fog"
severities = [1]
attacks = ["fgsm"]
eps = ["2/255"]
large_budget_check = false

[data]
dataset = "voc2012"
data_dir = "{}"
image_size = [16, 16]
batch_size = 4
val_fraction = 0.25

[model]
name = "small-cnn"

[train]
steps = 3
"#,
        data.display()
    );
    let path = dir.path().join("suite.toml");
    std::fs::write(&path, recipe).unwrap();
    let out = dir.path().join("s");
    ok(&["suite", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(md.contains("clean mAP") && md.contains("noise mAP") && md.contains("multi-label"), "{md}");
    assert!(!md.contains("mCE |"), "no mCE for mAP: {md}");
    assert!(md.contains("FGSM 2/255 mAP"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Validation mAP") && html.contains("Mean mAP over the corruptions"));
}

#[test]
fn training_on_images_decoded_on_demand_is_training_on_images_decoded_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = layouts::voc_default(dir.path());
    let d = data.to_str().unwrap();
    let train = |out: &Path, on_demand: &str| {
        let lazy = format!("data.on_demand={on_demand}");
        let rest = ["--set", &lazy, "--steps", "4", "--val-fraction", "0.25"];
        let args = voc_train(d, out.to_str().unwrap(), &rest);
        ok(&args);
        let losses: Vec<String> = std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == "epoch")
            .map(|v| format!("{} {} {}", v["train_loss"], v["val_map"], v["val_loss"]))
            .collect();
        (losses, json(&out.join("results/clean.json"))["multi_label"]["map"].clone())
    };
    let at_once = train(&dir.path().join("a"), "false");
    let lazy = train(&dir.path().join("b"), "true");
    assert!(!at_once.0.is_empty());
    assert_eq!(at_once, lazy, "the same batches, the same losses and mAP");
    // An unreadable image stops training at its batch with the file's name, leaving no run behind.
    let broken = data.join("VOCdevkit/VOC2012/JPEGImages/2008_000005.jpg");
    std::fs::write(&broken, b"not a jpeg").unwrap();
    let out = dir.path().join("c");
    let rest = ["--set", "data.on_demand=true", "--epochs", "1", "--val-fraction", "0"];
    let args = voc_train(d, out.to_str().unwrap(), &rest);
    let e = fails(&args);
    assert!(e.contains("2008_000005.jpg") && e.contains("unreadable image"), "{e}");
    assert!(!out.exists());
}

#[test]
fn an_imagenet_layout_trains_decoded_on_demand_and_evaluates_on_its_flat_val() {
    let dir = tempfile::tempdir().unwrap();
    let data = layouts::imagenet(dir.path(), Some("LOC_val_solution.csv"));
    let out = dir.path().join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let text = ok(&[
        "train",
        "--quiet",
        "--dataset",
        "imagenet",
        "--data-dir",
        d,
        "--set",
        "data.image_size=[12, 12]",
        "--set",
        "data.on_demand=true",
        "--model",
        "small-cnn",
        "--steps",
        "3",
        "--batch-size",
        "3",
        "--val-fraction",
        "0",
        "--out",
        o,
    ]);
    assert!(text.contains("test accuracy") && text.contains("(6 images)"), "{text}");
    let clean = json(&out.join("results/clean.json"));
    assert_eq!(clean["class_names"], serde_json::json!(layouts::SYNSETS));
    assert_eq!(clean["per_class_samples"], serde_json::json!([2, 2, 2]));
}
