//! The command line: exit codes and the one-line errors a user sees.
mod common;
use common::{fails, ok, robustcnn};
use std::process::Command;

#[test]
fn models_lists_every_model_with_its_stages() {
    let out = robustcnn(&["models"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["small-cnn", "resnet20", "resnet56", "preact-resnet18", "wrn-28-10", "resnext29-4x32d", "resnet50"] {
        assert!(text.contains(name), "{name} missing");
    }
    assert!(text.contains("stem,stage1,stage2,stage3,head"));
}

#[test]
fn bad_train_options_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run").display().to_string();
    assert!(fails(&["train", "--model", "vgg", "--out", &out]).contains("unknown model 'vgg' (models: small-cnn"));
    assert!(fails(&["train", "--dataset", "svhn", "--out", &out])
        .contains("unknown dataset 'svhn' (datasets: fashion-mnist-mini"));
    assert!(fails(&["train", "--set", "optim.lrr=1", "--out", &out]).contains("unknown field `lrr`"));
    assert!(fails(&["train", "--set", "nonsense", "--out", &out]).contains("--set nonsense: expected KEY=VALUE"));
    assert!(fails(&["train", "--lr", "-1", "--out", &out]).contains("optim.lr must be a positive number"));
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[model]\nnam = \"resnet20\"\n").unwrap();
    let e = fails(&["train", "--config", &cfg.display().to_string(), "--out", &out]);
    assert!(e.contains("bad.toml: ") && e.contains("unknown field `nam`"), "{e}");
    assert!(fails(&["train", "--config", "/no/such.toml", "--out", &out]).contains("/no/such.toml: No such file"));
    assert!(!dir.path().join("run").exists(), "a failed start must leave nothing behind");
}

#[test]
fn cuda_without_a_gpu_is_a_clear_error() {
    if tch::Cuda::is_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run").display().to_string();
    let e = fails(&["train", "--device", "cuda", "--out", &out]);
    assert!(e.contains("--device cuda: libtorch sees 0 CUDA device(s)"), "{e}");
}

#[test]
fn data_commands() {
    let out = robustcnn(&["data", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("fashion-mnist-mini"));
    let out = robustcnn(&["data", "info", "fashion-mnist-mini"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("train: 6000 images of 28x28x1, 10 classes"));
    let dir = tempfile::tempdir().unwrap();
    let e = fails(&["data", "info", "cifar10", "--data-dir", &dir.path().display().to_string()]);
    assert!(e.contains("cifar10: no test_batch.bin[.gz] in"), "{e}");
    assert!(fails(&["data", "fetch", "folder"]).contains("nothing to download"));
}

#[test]
fn eval_of_a_missing_run_and_bad_bench_input() {
    assert!(fails(&["eval", "clean", "/no/run"]).contains("/no/run: not a run directory (no config.toml)"));
    assert!(fails(&["bench", "--input", "3x32"]).contains("--input 3x32: expected CxHxW"));
}

#[test]
fn bench_epoch_times_the_pure_step_over_the_epochs_steps_and_leaves_no_scratch_run() {
    let (tmp, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_cifar10(&data.path().join("cifar-10-batches-bin"));
    let args = ["bench", "--models", "small-cnn", "--batch", "64", "--input", "3x32x32", "--iters", "1"];
    let out = Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .args(args)
        .args(["--epoch", "cifar10", "--data-dir"])
        .arg(data.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // The fixture's 200 training images in batches of 64: 4 steps, the last one short.
    let line = text.lines().find(|l| l.contains("one epoch of cifar10")).unwrap_or_default();
    assert!(line.contains("(200 images, 3x32x32)") && line.contains("pure step over the same 4 steps"), "{text}");
    let ratio: f64 = line.rsplit("ratio ").next().unwrap().trim().parse().unwrap();
    assert!(ratio.is_finite() && ratio > 0.0, "{line}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the scratch run must be removed");
}

#[test]
fn train_then_eval_clean_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    // One augmentation key set, the other left to the dataset's default (Fashion-MNIST's flip).
    let padding = "data.augment.crop_padding=3";
    let args = ["train", "--quiet", "--steps", "6", "--batch-size", "64", "--val-fraction", "0.5", "--set", padding];
    let out = robustcnn(&[&args[..], &["--out", &r]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("test accuracy"));
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("[data.augment]\ncrop_padding = 3\nflip = true\n"), "{cfg}");
    let out = robustcnn(&["eval", "clean", &r, "--weights", "last"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results/clean.json")).unwrap()).unwrap();
    assert_eq!(json["samples"], 1000);
    assert_eq!(json["weights"], "last");
    assert_eq!(json["confusion"].as_array().unwrap().len(), 10);
    // A second train into the same directory is refused; --resume of a finished run just re-evaluates.
    assert!(fails(&["train", "--quiet", "--out", &r]).contains("already holds a run"));
    let out = robustcnn(&["train", "--quiet", "--resume", "--out", &r]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn ctrl_c_leaves_a_resumable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    let args = [
        "train",
        "--quiet",
        "--steps",
        "150",
        "--batch-size",
        "32",
        "--val-fraction",
        "0.5",
        "--set",
        "train.log_every=1",
        "--out",
        &r,
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .args(args)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first step record, then send SIGINT as a terminal's Ctrl-C would.
    let metrics = run.join("metrics.jsonl");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 3 {
        assert!(started.elapsed().as_secs() < 120, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("continue with: robustcnn train --resume --out"), "{err}");
    assert!(run.join("checkpoint.safetensors").is_file());
    assert!(!run.join("checkpoint.safetensors.tmp").exists());
    let out = robustcnn(&["train", "--quiet", "--resume", "--out", &r]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let end = std::fs::read_to_string(&metrics).unwrap().lines().last().unwrap().to_string();
    assert!(end.contains("\"event\":\"end\"") && end.contains("\"step\":150"), "{end}");
}

#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .arg("models")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_diverging_loss_stops_the_run_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    let base = ["train", "--quiet", "--steps", "60", "--batch-size", "64", "--val-fraction", "0.5", "--out", &r];
    // Before the first checkpoint: nothing is kept, and the message says to start again.
    let e = fails(&[&base[..], &["--lr", "1e12"]].concat());
    assert!(e.contains("the cross-entropy loss became") && e.contains("at step "), "{e}");
    assert!(
        e.contains("before the first checkpoint, so the run was not kept; start again with a lower learning rate"),
        "{e}"
    );
    assert!(!run.exists(), "a run that diverged before its first checkpoint was left behind");

    // After one: the checkpoint of the last finished epoch is kept, and resuming with a sane rate finishes.
    let stopped = robustcnn(&[&base[..], &["--stop-after", "47"]].concat());
    assert_eq!(stopped.status.code(), Some(130), "{}", String::from_utf8_lossy(&stopped.stderr));
    // A stop at or before the run's step would train a step nobody asked for.
    let e = fails(&["train", "--quiet", "--resume", "--out", &r, "--stop-after", "47"]);
    assert!(e.contains(&format!("--stop-after 47: {r} is already at step 47; give a later step")), "{e}");
    // A resumed run keeps its own recipe: an option that would change it is refused, not ignored.
    let e = fails(&["train", "--quiet", "--resume", "--out", &r, "--lr", "0.01"]);
    let want =
        format!("--resume: {r} continues with its own recipe (optim.lr = 0.1); this command asks for optim.lr = 0.01");
    assert!(e.contains(&want), "{e}");
    let e = fails(&["train", "--quiet", "--resume", "--out", &r, "--set", "method.name=\"lfm\""]);
    assert!(e.contains("(method.name = \"baseline\"); this command asks for method.name = \"lfm\""), "{e}");
    let config = run.join("config.toml");
    let sane = std::fs::read_to_string(&config).unwrap();
    // A setting left at its default is not written to the recipe: asking for the default on a run
    // trained otherwise is a change too.
    let e = fails(&["train", "--quiet", "--resume", "--out", &r, "--precision", "bf16"]);
    assert!(e.contains("(train.precision at its default); this command asks for train.precision = \"bf16\""), "{e}");
    std::fs::write(&config, sane.replace("[train]\n", "[train]\nprecision = \"bf16\"\n")).unwrap();
    let e = fails(&["train", "--quiet", "--resume", "--out", &r, "--precision", "fp32"]);
    assert!(e.contains("(train.precision = \"bf16\"); this command asks for train.precision at its default"), "{e}");
    std::fs::write(&config, sane.replace("lr = 0.1\n", "lr = 1e12\n")).unwrap();
    let resume = ["train", "--quiet", "--resume", "--out", &r];
    let e = fails(&resume);
    assert!(
        e.contains("the cross-entropy loss became") && e.contains("(epoch 2); the last good checkpoint is kept"),
        "{e}"
    );
    assert!(e.contains(&format!("resume with a lower learning rate: robustcnn train --resume --out {r}")), "{e}");
    std::fs::write(&config, sane).unwrap();
    ok(&resume);
    assert!(run.join("results/clean.json").is_file());
}

#[test]
fn a_model_whose_outputs_are_not_numbers_gets_no_score() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    common::short_run(&r, "3");
    // Batch-norm running variances below zero: evaluation (running statistics) gives NaN, training
    // (batch statistics) does not. Argmax over NaN picked class 0, and passed for chance accuracy.
    let poisoned = dir.path().join("poisoned.safetensors");
    let tensors: Vec<(String, tch::Tensor)> = tch::Tensor::read_safetensors(run.join("best.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(k, t)| if k.ends_with("running_var") { (k, t.full_like(-1e6)) } else { (k, t) })
        .collect();
    tch::Tensor::write_safetensors(&tensors, &poisoned).unwrap();
    let p = poisoned.display().to_string();
    let named = format!("{r} (weights: {p}): the model's outputs are NaN or infinite for ");
    let e = fails(&["eval", "clean", &r, "--weights", &p]);
    assert!(e.contains(&format!("{named}1000 of the 1000 images (the first is image 0)")), "{e}");
    let e = fails(&["eval", "attack", &r, "--weights", &p, "--attack", "fgsm", "--eps", "1/255", "--limit", "20"]);
    assert!(e.contains(&format!("{named}20 of the 20 images")), "{e}");
    let e = fails(&["eval", "corruptions", &r, "--weights", &p, "--corruptions", "fog", "--severities", "1"]);
    assert!(e.contains(&named) && e.contains("diverged, so no score is computed from them"), "{e}");
    // One class's logit −inf: softmax gives it a finite 0, but the logits are not finite either.
    let minus_inf = dir.path().join("minus-inf.safetensors");
    let tensors: Vec<(String, tch::Tensor)> =
        tch::Tensor::read_safetensors(run.join("best.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(k, t)| {
                if k == "fc2.bias" {
                    (k, t.index_fill(0, &tch::Tensor::from(3i64), f64::NEG_INFINITY))
                } else {
                    (k, t)
                }
            })
            .collect();
    tch::Tensor::write_safetensors(&tensors, &minus_inf).unwrap();
    let m = minus_inf.display().to_string();
    let e = fails(&["eval", "clean", &r, "--weights", &m]);
    assert!(e.contains(&format!("{r} (weights: {m}): the model's outputs are NaN or infinite for 1000 of")), "{e}");
    let picture = dir.path().join("explain.png");
    let e = fails(&["explain", &r, "test:0", "--weights", &p, "--out", &picture.display().to_string()]);
    assert!(e.contains(&format!("{named}1 of the 1 images")) && !picture.exists(), "{e}");
    // Finetuned from them: no epoch is selected by validation, and the test evaluation refuses.
    let e = fails(&[
        "train",
        "--quiet",
        "--init",
        &r,
        "--model",
        "resnet20",
        "--out",
        &dir.path().join("x").display().to_string(),
    ]);
    assert!(
        e.contains("a small-cnn run, and this run trains resnet20; finetuning starts from weights of the same"),
        "{e}"
    );
    let tuned = dir.path().join("tuned");
    let t = tuned.display().to_string();
    let args = ["train", "--quiet", "--init", &p, "--steps", "3", "--batch-size", "64", "--val-fraction", "0.5"];
    let e = fails(&[&args[..], &["--out", &t]].concat());
    let want = format!(
        "{t}: trained, but on the test set with the last epoch (model.safetensors) weights the model's outputs are NaN"
    );
    assert!(e.contains(&want), "{e}");
    let metrics = std::fs::read_to_string(tuned.join("metrics.jsonl")).unwrap();
    let epoch: serde_json::Value = serde_json::from_str(metrics.lines().nth(1).unwrap()).unwrap();
    assert!(epoch["val_accuracy"].is_null() && epoch["train_loss"].as_f64().unwrap().is_finite(), "{epoch}");
    assert!(!tuned.join("best.safetensors").exists() && tuned.join("model.safetensors").is_file());
}

#[test]
fn demo_runs_the_suite_reports_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let args = ["demo", "--epochs", "1", "--methods", "baseline,tenet", "--limit", "30", "--out", &out];
    let first = robustcnn(&args);
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(text.contains("[2/2] tenet seed 0") && text.contains("| tenet | 1 |"), "{text}");
    assert!(text.contains(&format!("report: {}", dir.path().join("report.html").display())), "{text}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("robustcnn demo") && html.contains("data:image/png;base64,"));
    let again = robustcnn(&args);
    let text2 = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success() && !text2.contains("done in"), "{text2}");
    let table = |t: &str| t.lines().filter(|l| l.starts_with("| ")).map(String::from).collect::<Vec<_>>();
    assert_eq!(table(&text), table(&text2), "a rerun reports the same numbers");
    let e = fails(&["demo", "--methods", "pgd-at", "--out", &out]);
    assert!(
        e.contains("--methods pgd-at: not in the suite (its methods: baseline, lfm, tenet, fma+ca, st+ca, augmix)"),
        "{e}"
    );
}

/// Writes a CIFAR-10 binary directory (5 training batches of 40 records, a test batch of 20).
fn write_cifar10(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let record = |label: u8, seed: usize| -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..3072).map(|i| ((i * 31 + seed * 17 + label as usize * 50) % 256) as u8));
        r
    };
    for b in 1..=5 {
        let bytes: Vec<u8> = (0..40).flat_map(|i| record((i % 10) as u8, b * 100 + i)).collect();
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    let test: Vec<u8> = (0..20).flat_map(|i| record((i % 10) as u8, 999 + i)).collect();
    std::fs::write(dir.join("test_batch.bin"), test).unwrap();
}

#[test]
fn trains_on_cifar10_binary_files_and_image_folders() {
    let dir = tempfile::tempdir().unwrap();
    let cifar = dir.path().join("cifar-10-batches-bin");
    write_cifar10(&cifar);
    let run = dir.path().join("cifar-run").display().to_string();
    let data_dir = dir.path().display().to_string();
    let args = [
        "train",
        "--quiet",
        "--dataset",
        "cifar10",
        "--data-dir",
        &data_dir,
        "--steps",
        "3",
        "--batch-size",
        "32",
        "--out",
        &run,
    ];
    let out = robustcnn(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = std::fs::read_to_string(dir.path().join("cifar-run/config.toml")).unwrap();
    assert!(cfg.contains("crop_padding = 4"), "CIFAR's default augmentation: {cfg}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("(20 images)"));

    let folder = dir.path().join("folder");
    for (split, n) in [("train", 12), ("test", 4)] {
        for (c, class) in ["cat", "dog"].iter().enumerate() {
            std::fs::create_dir_all(folder.join(split).join(class)).unwrap();
            for i in 0..n {
                let img = image::RgbImage::from_pixel(20 + i, 16, image::Rgb([(c * 200) as u8, i as u8, 50]));
                img.save(folder.join(split).join(class).join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let run = dir.path().join("folder-run").display().to_string();
    let f = folder.display().to_string();
    let base = ["train", "--quiet", "--dataset", "folder", "--data-dir", &f, "--steps", "2", "--batch-size", "8"];
    // Mixed sizes without a size: one clear error naming the image.
    let e = fails(&[&base[..], &["--out", &run]].concat());
    assert!(e.contains("but earlier images are 16x20; set a size with resize or center-crop"), "{e}");
    let sized = [&base[..], &["--set", "data.image_size=[16, 16]", "--out", &run]].concat();
    let out = robustcnn(&sized);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(8 images)"));
}
