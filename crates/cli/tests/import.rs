//! `robustcnn import` end to end (docs/imported.md): RobustBench's WRN-16-2 becomes a run that
//! classifies the fixture images as PyTorch does, is attacked and finetuned like any run, and bad
//! requests are one clear error that leaves nothing behind.
mod common;
use common::{fails, ok};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../robustcnn/tests/fixtures/import").join(name)
}

/// A CIFAR-10 binary directory whose test batch is the fixture's 8 images, labelled with the class
/// PyTorch's module gives each; the training batches hold other images.
fn write_cifar(dir: &Path) {
    let io: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(fixture("wrn16_2_io.safetensors")).unwrap().into_iter().collect();
    let bytes = Vec::<u8>::try_from((&io["input"] * 255.0).round().to_kind(tch::Kind::Uint8).reshape([-1])).unwrap();
    let labels = Vec::<i64>::try_from(io["logits"].argmax(1, false)).unwrap();
    let dir = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let mut test = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        test.push(label as u8);
        test.extend_from_slice(&bytes[i * 3072..(i + 1) * 3072]);
    }
    std::fs::write(dir.join("test_batch.bin"), test).unwrap();
    for b in 1..=5 {
        let batch: Vec<u8> = (0..20usize)
            .flat_map(|i| {
                std::iter::once((i % 10) as u8).chain((0..3072).map(move |j| ((j * 7 + i * 13 + b) % 256) as u8))
            })
            .collect();
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), batch).unwrap();
    }
}

#[test]
fn a_robustbench_wrn_becomes_a_run_that_agrees_with_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path());
    let data = dir.path().display().to_string();
    let run = dir.path().join("imported");
    let r = run.display().to_string();
    let file = fixture("wrn16_2_robustbench.safetensors").display().to_string();
    let base = ["import", &file, "--from", "robustbench", "--dataset", "cifar10", "--data-dir", &data];
    let text = ok(&[&base[..], &["--arch", "wrn-16-2", "--out", &r]].concat());
    assert!(text.contains("imported 70 tensors") && text.contains("mean [0.0, 0.0, 0.0]"), "{text}");
    let provenance: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("imported.json")).unwrap()).unwrap();
    assert_eq!(provenance["source"], "robustbench");
    // Labelled with PyTorch's predictions, the 8 images are all right only if the logits agree.
    ok(&["eval", "clean", &r]);
    let clean: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results/clean.json")).unwrap()).unwrap();
    assert_eq!(clean["top1"].as_f64().unwrap(), 1.0, "{clean}");
    let text = ok(&["eval", "attack", &r, "--attack", "fgsm,pgd", "--steps", "2", "--eps", "2/255", "--no-sanity"]);
    assert!(text.contains("PGD-2"), "{text}");
    // RobustBench entries: AutoAttack (standard) with its own settings, and the corruptions.
    let rb = run.join("results/robustbench/cifar10");
    // A budget large enough to break every point at once keeps AutoAttack's later attacks idle.
    ok(&["eval", "attack", &r, "--attack", "autoattack", "--eps", "0.25", "--no-sanity", "--format", "robustbench"]);
    let text = std::fs::read_to_string(rb.join("Linf/imported.json")).unwrap();
    let keys = ["link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue"];
    let keys = [&keys[..], &["architecture", "eps", "clean_acc", "reported", "autoattack_acc"]].concat();
    let at: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "the fields in RobustBench's order: {text}");
    let entry: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(entry["architecture"], "WideResNet-16-2");
    assert_eq!((entry["eps"].as_str(), entry["clean_acc"].as_str()), (Some("0.25"), Some("100.00")));
    assert!(entry["autoattack_acc"].as_str().unwrap().parse::<f64>().is_ok() && entry["link"].is_null(), "{entry}");
    let e =
        fails(&["eval", "attack", &r, "--attack", "autoattack:iters=5", "--eps", "0.25", "--format", "robustbench"]);
    assert!(
        e.contains("--format robustbench: its autoattack_acc is the robust accuracy under AutoAttack (standard)"),
        "{e}"
    );
    let e = fails(&["eval", "attack", &r, "--format", "csv"]);
    assert!(e.contains("--format csv: the only format is robustbench"), "{e}");
    let args =
        ["--corruptions", "gaussian_noise,fog", "--severities", "1,2", "--format", "robustbench", "--name", "Mine"];
    ok(&[&["eval", "corruptions", &r][..], &args[..]].concat());
    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rb.join("corruptions/Mine.json")).unwrap()).unwrap();
    assert!(entry["corruptions_acc"].is_string() && entry.get("corruptions_mce").is_none(), "{entry}");
    let csv = std::fs::read_to_string(rb.join("corruptions/unaggregated_results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], ",gaussian_noise,gaussian_noise,fog,fog");
    assert_eq!(lines[1], ",1,2,1,2");
    assert!(lines[2].starts_with("Mine,") && lines[2].split(',').count() == 5, "{csv}");
    let tuned = dir.path().join("tuned").display().to_string();
    let args =
        ["--dataset", "cifar10", "--data-dir", &data, "--model", "wrn-16-2", "--steps", "1", "--batch-size", "16"];
    ok(&[&["train", "--quiet", "--init", &r, "--out", &tuned][..], &args[..]].concat());

    // Bad requests: one line each, and no run directory left behind.
    let other = dir.path().join("other").display().to_string();
    let e = fails(&[&base[..], &["--arch", "wrn-16-4", "--out", &other]].concat());
    assert!(e.contains("does not match wrn-16-4: wrong shape"), "{e}");
    let e = fails(&[&base[..], &["--arch", "resnet18", "--out", &other]].concat());
    assert!(e.contains("--arch resnet18: robustbench state dicts map onto"), "{e}");
    let e = fails(&["import", &file, "--from", "caffe", "--arch", "wrn-16-2", "--dataset", "cifar10", "--out", &other]);
    assert!(e.contains("--from caffe: expected torchvision, timm or robustbench"), "{e}");
    assert!(!Path::new(&other).exists(), "nothing half written");
    // A module scripted by PyTorch for 1×28×28 images, given CIFAR-10's.
    let scripted = fixture("small_cnn_scripted.pt").display().to_string();
    let e = fails(&[
        "eval",
        "clean",
        "--torchscript",
        &scripted,
        "--dataset",
        "cifar10",
        "--data-dir",
        &data,
        "--results",
        &other,
    ]);
    assert!(
        e.contains("fails on a batch of 1 3×32×32 images: RuntimeError: Given groups=1, weight of size [16, 1, 3, 3]"),
        "{e}"
    );
    assert!(!Path::new(&other).exists(), "nothing half written");
    let e = fails(&[&base[..], &["--arch", "wrn-16-2", "--out", &r]].concat());
    assert!(e.contains("already holds a run"), "{e}");
}

#[test]
fn a_torchvision_resnet50_takes_a_new_head_and_is_finetuned_with_ca_behind_imagenets_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path());
    let data = dir.path().display().to_string();
    // A state dict under torchvision's names (the zoo's resnet50 carries them), with its 1000-class head.
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let spec =
        robustcnn::models::ModelSpec { in_channels: 3, num_classes: 1000, mean: vec![0.0; 3], std: vec![1.0; 3] };
    robustcnn::models::build(&vs.root(), "resnet50", &spec).unwrap();
    let state: Vec<(String, Tensor)> =
        vs.variables().into_iter().filter(|(n, _)| !n.starts_with("normalize.")).collect();
    let file = dir.path().join("resnet50.safetensors");
    Tensor::write_safetensors(&state, &file).unwrap();
    let (f, tv, ft) = (file.display().to_string(), dir.path().join("tv"), dir.path().join("ft"));
    let (t, r) = (tv.display().to_string(), ft.display().to_string());
    let text = ok(&["import", &f, "--from", "torchvision", "--arch", "resnet50", "--dataset", "cifar10"]
        .iter()
        .chain(&["--data-dir", &data, "--new-head", "--out", &t])
        .copied()
        .collect::<Vec<_>>());
    assert!(text.contains("the classifier is new"), "{text}");
    let args = ["--method", "fma+ca", "--dataset", "cifar10", "--data-dir", &data, "--model", "resnet50"];
    ok(&[&["train", "--quiet", "--init", &t, "--out", &r, "--steps", "2", "--batch-size", "4"][..], &args[..]]
        .concat());
    let cfg: toml::Value = std::fs::read_to_string(ft.join("config.toml")).unwrap().parse().unwrap();
    assert_eq!(cfg["method"]["name"].as_str(), Some("fma+ca"));
    // The finetuned run keeps the normalisation the imported weights were trained behind, and applies it.
    let mean: Vec<f64> = cfg["model"]["mean"].as_array().unwrap().iter().map(|v| v.as_float().unwrap()).collect();
    assert_eq!(mean, [0.485, 0.456, 0.406], "{cfg}");
    let weights: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(ft.join("model.safetensors")).unwrap().into_iter().collect();
    let applied = Vec::<f64>::try_from(weights["normalize.mean"].to_kind(tch::Kind::Double).reshape([-1])).unwrap();
    assert!(applied.iter().zip(&mean).all(|(a, b)| (a - b).abs() < 1e-6), "{applied:?}");
    assert_eq!(weights["fc.weight"].size(), [10, 2048], "the new head's 10 classes");
}
