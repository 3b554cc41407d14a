//! Models trained elsewhere (docs/imported.md): a TorchScript module evaluated with --torchscript gives
//! what its run gives, every attack runs on it, its results go beside it with the module's MD5, and
//! what cannot work is one clear error.
mod common;
use common::{fails, ok, short_run};
use std::path::Path;
use tch::{CModule, Kind, Tensor};

/// Exports the run's best weights as TorchScript, tracing its forward pass (normalisation included),
/// optionally keeping only the first `classes` logits.
fn export(run: &Path, file: &Path, classes: Option<i64>) {
    let (_run, mut p, _) = robustcnn::train::open_trained(run, "best", None).unwrap();
    // Traced weights become constants, which may not require gradients.
    p.vs.freeze();
    let example = Tensor::rand([2, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
    let mut forward = |xs: &[Tensor]| {
        let logits = p.net.forward(&xs[0], false);
        vec![classes.map_or(logits.shallow_clone(), |k| logits.narrow(1, 0, k))]
    };
    let module = tch::no_grad(|| CModule::create_by_tracing("model", "forward", &[example], &mut forward)).unwrap();
    module.save(file).unwrap();
}

fn top1(file: &Path) -> f64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    v["top1"].as_f64().unwrap()
}

#[test]
fn a_torchscript_module_is_evaluated_as_its_run_is() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    short_run(&r, "8");
    let file = dir.path().join("model.pt");
    export(&run, &file, None);
    let f = file.display().to_string();

    let from_run = top1(&run.join("results/clean.json"));
    let out = ok(&["eval", "clean", "--torchscript", &f, "--dataset", "fashion-mnist-mini"]);
    let results = dir.path().join("model-results");
    assert!(out.contains(&results.display().to_string()), "{out}");
    assert_eq!(top1(&results.join("clean.json")), from_run, "the module and its run disagree");
    let clean: serde_json::Value = serde_json::from_slice(&std::fs::read(results.join("clean.json")).unwrap()).unwrap();
    assert_eq!(clean["protocol"]["weights"], "torchscript");
    assert_eq!(clean["protocol"]["dataset"], "fashion-mnist-mini");
    assert_eq!(clean["protocol"]["weights_md5"].as_str().unwrap().len(), 32);

    // Gradient attacks and the score-based Square run on it; FGSM and PGD find what they find on the run.
    let attacks = ["--attack", "fgsm,pgd:steps=5,square:queries=50", "--eps", "8/255", "--limit", "40", "--no-sanity"];
    let module = ["eval", "attack", "--torchscript", &f, "--dataset", "fashion-mnist-mini"];
    let attack = ok(&[&module[..], &attacks[..]].concat());
    assert!(attack.contains("FGSM") && attack.contains("PGD-5") && attack.contains("Square-50"), "{attack}");
    ok(&[&["eval", "attack", &r][..], &attacks[..]].concat());
    let robust = |file: &Path| -> Vec<(String, f64)> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let results = v["results"].as_array().unwrap().iter();
        let gradient = results.filter(|x| !x["attack"].as_str().unwrap().starts_with("Square"));
        gradient.map(|x| (x["attack"].as_str().unwrap().into(), x["robust_accuracy"].as_f64().unwrap())).collect()
    };
    let (native, scripted) = (robust(&run.join("results/attacks.json")), robust(&results.join("attacks.json")));
    assert_eq!(native.len(), 2, "{native:?}");
    assert_eq!(scripted, native, "FGSM and PGD through TorchScript and on the run's own model");
    let corrupted = ok(&[
        "eval",
        "corruptions",
        "--torchscript",
        &f,
        "--dataset",
        "fashion-mnist-mini",
        "--corruptions",
        "gaussian_noise",
        "--severities",
        "1,5",
        "--limit",
        "40",
    ]);
    assert!(corrupted.contains("gaussian_noise"), "{corrupted}");
    assert!(results.join("evals").is_dir());
}

#[test]
fn what_cannot_work_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    short_run(&run.display().to_string(), "2");
    let five = dir.path().join("five.pt");
    export(&run, &five, Some(5));
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not a module").unwrap();
    let (five, junk) = (five.display().to_string(), junk.display().to_string());
    let r = run.display().to_string();
    let data = ["--dataset", "fashion-mnist-mini"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["eval", "attack", &r, "--attack", "autoattack", "--eps", "8/255", "--format", "robustbench"],
            "--format robustbench: RobustBench keeps leaderboards for cifar10, cifar100, imagenet, not for \
             fashion-mnist-mini (an ImageNet validation folder is read as --dataset imagenet)",
        ),
        (vec!["eval", "clean", "--torchscript", &junk, data[0], data[1]], "not a TorchScript module libtorch can load"),
        (
            vec!["eval", "clean", "--torchscript", &five, data[0], data[1]],
            "the dataset has 10 classes, so logits of shape [1, 10] were expected",
        ),
        (
            vec!["eval", "clean", "--torchscript", &five, data[0], data[1], "--mean", "0.5,0.5", "--std", "0.2,0.2"],
            "--mean and --std need 1 values each (the images have 1 channels",
        ),
        (vec!["eval", "clean", "--torchscript", &five], "say which test set to evaluate it on with --dataset"),
        (
            vec!["eval", "clean", "--torchscript", &five, data[0], data[1], "--input-size", "32x32"],
            "--input-size 32x32: fashion-mnist-mini's images are 28x28 and are not resized",
        ),
    ];
    for (args, expected) in &cases {
        let err = fails(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!dir.path().join("five-results").exists(), "a refused module left results behind");
    assert!(!run.join("results/attacks.json").exists(), "a refused format left results behind");
}
