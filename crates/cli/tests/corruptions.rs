//! `corrupt` and `eval corruptions` from the command line, on the embedded Fashion-MNIST subset.
mod common;
use common::{fails, ok, short_run};
use std::path::Path;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The accuracy of every (corruption, severity) cell of results/corruptions.json.
fn cells(run: &Path) -> Vec<(String, u64, f64)> {
    json(&run.join("results/corruptions.json"))["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["corruption"].as_str().unwrap().to_string(),
                c["severity"].as_u64().unwrap(),
                c["accuracy"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn corrupt_writes_the_cifar10c_layout_and_eval_reads_it_back_as_generated_on_the_fly() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("fmnist-c");
    let cs = c.display().to_string();
    let args = ["corrupt", "--dataset", "fashion-mnist-mini", "--limit", "40", "--corruptions", "noise,fog,glass_blur"];
    let text = ok(&[&args[..], &["--out", &cs, "--seed", "3"]].concat());
    assert!(text.contains("1000 corrupted images (5 corruptions × 5 severities × 40 images)"), "{text}");
    let arr = corrupt::npy::read(&c.join("gaussian_noise.npy")).unwrap();
    assert_eq!(arr.shape, vec![200, 28, 28, 1]);
    let labels = corrupt::npy::read(&c.join("labels.npy")).unwrap();
    assert_eq!(labels.shape, vec![200]);
    assert_eq!(labels.data[..40], labels.data[160..200], "labels repeat per severity block");
    // Severity blocks differ: the first image at severity 1 is not the first image at severity 5.
    let mini = corrupt::npy::read(&c.join("fog.npy")).unwrap();
    assert_ne!(mini.data[..784], mini.data[4 * 40 * 784..4 * 40 * 784 + 784]);
    // A second run keeps the finished files.
    let again = ok(&[&args[..], &["--out", &cs, "--seed", "3"]].concat());
    assert!(again.contains("(5 already there)"), "{again}");
    // Another corruption joins the set and its manifest; other settings would mix two sets and are refused.
    let more = ["corrupt", "--dataset", "fashion-mnist-mini", "--limit", "40", "--out", &cs];
    ok(&[&more[..], &["--seed", "3", "--corruptions", "pixelate"]].concat());
    let listed = json(&c.join("manifest.json"))["corruptions"].clone();
    assert_eq!(
        listed,
        serde_json::json!(["gaussian_noise", "shot_noise", "impulse_noise", "fog", "glass_blur", "pixelate"])
    );
    for (other, want) in [
        (&["--seed", "4"][..], "holds a set made with engine \"seed 3, preset cifar"),
        (
            &["--seed", "3", "--severities", "1,2"],
            "holds a set made with severities [1,2,3,4,5] (manifest.json), not [1,2]",
        ),
        (&["--seed", "3", "--split", "train"], "holds a set made with split \"test\""),
    ] {
        let e = fails(&[&more[..], other, &["--corruptions", "speckle_noise"]].concat());
        assert!(e.contains(want), "{other:?}: {e}");
    }
    assert!(!c.join("speckle_noise.npy").exists());

    // A short run, then its accuracy from the files equals the accuracy generated on the fly.
    let run = dir.path().join("run");
    let r = run.display().to_string();
    short_run(&r, "8");
    let sel = ["--corruptions", "noise,fog,glass_blur", "--severities", "1,5"];
    ok(&[&["eval", "corruptions", &r, "--limit", "40", "--seed", "3"][..], &sel].concat());
    let fly = cells(&run);
    assert_eq!(fly.len(), 10);
    // Without --corruptions, a set's manifest says which corruptions it holds.
    let listed = ok(&["eval", "corruptions", &r, "--limit", "40", "--from", &cs]);
    assert!(listed.contains("pixelate") && listed.contains("glass_blur") && !listed.contains("snow"), "{listed}");
    // The set's images are made already: how they were drawn is the manifest's, recorded with the
    // results; an option saying how to draw them is refused, not recorded as if it had applied.
    let source = json(&run.join("results/corruptions.json"))["source"].as_str().unwrap().to_string();
    assert_eq!(source, format!("from {cs} (seed 3, preset cifar, frost photographs)"));
    let e = fails(&["eval", "corruptions", &r, "--limit", "40", "--from", &cs, "--preset", "imagenet"]);
    assert!(e.contains(&format!("--preset: says how corruptions are drawn on the fly; --from {cs} holds images already made (seed 3, preset cifar")), "{e}");
    let protocol = json(&run.join("results/corruptions.json"))["protocol"].clone();
    assert!(protocol.get("seed").is_none() && protocol.get("preset").is_none(), "{protocol}");
    // Without the manifest the directory looks like the published CIFAR-10-C: severities 1–5 assumed.
    std::fs::remove_file(c.join("manifest.json")).unwrap();
    let text = ok(&[&["eval", "corruptions", &r, "--limit", "40", "--from", &cs][..], &sel].concat());
    assert_eq!(cells(&run), fly);
    assert!(text.contains("mCE: needs all 15 benchmark corruptions"), "{text}");
    let report = json(&run.join("results/corruptions.json"));
    assert!(report["source"].as_str().unwrap().starts_with("from "));
    // Without --limit, the clean accuracy is still that of the set's 40 images, and a set of the
    // training images is refused (its clean counterpart is not the test split).
    let clean = |t: &str| t.split("clean accuracy ").nth(1).and_then(|c| c.split(',').next()).unwrap().to_string();
    let whole = ok(&[&["eval", "corruptions", &r, "--from", &cs][..], &sel].concat());
    assert_eq!(clean(&whole), clean(&text), "{whole}");
    let train_c = dir.path().join("train-c").display().to_string();
    ok(&[
        "corrupt",
        "--dataset",
        "fashion-mnist-mini",
        "--split",
        "train",
        "--limit",
        "40",
        "--corruptions",
        "fog",
        "--out",
        &train_c,
    ]);
    let e = fails(&["eval", "corruptions", &r, "--from", &train_c]);
    assert!(e.contains("its labels are not those of the run's first 40 test images"), "{e}");
    assert!(e.contains("(made from fashion-mnist-mini's train split, manifest.json)"), "{e}");
    assert!(report["mce_alexnet"].is_null(), "no AlexNet normalisation outside ImageNet");
    let csv = std::fs::read_to_string(run.join("results/corruptions.csv")).unwrap();
    assert!(csv.starts_with("corruption,family,severity,samples,accuracy,error\ngaussian_noise,noise,1,40,"), "{csv}");
    assert!(std::fs::read_to_string(run.join("results/corruptions.svg")).unwrap().contains("<polyline"));

    // Bad inputs name the file or option.
    let e = fails(&["eval", "corruptions", &r, "--from", &cs, "--corruptions", "snow"]);
    assert!(e.contains("snow.npy: missing; pass --corruptions"), "{e}");
    assert!(fails(&["eval", "corruptions", &r, "--severities", "0"]).contains("--severities: 0 is outside 1–5"));
    // Severities may be given as a range.
    ok(&["eval", "corruptions", &r, "--corruptions", "fog", "--limit", "5", "--severities", "2-3"]);
    let index = json(&run.join("results/index.json"));
    let kept = index["evaluations"].as_array().unwrap();
    assert!(kept.iter().any(|e| e["protocol"]["severities"] == serde_json::json!([2, 3])), "{index}");
    assert!(
        fails(&["eval", "corruptions", &r, "--corruptions", "fgo"]).contains("--corruptions: unknown corruption 'fgo'")
    );
    std::fs::write(c.join("labels.npy"), b"\x93NUMPY junk").unwrap();
    assert!(fails(&["eval", "corruptions", &r, "--from", &cs, "--corruptions", "fog"]).contains("labels.npy"));
}

#[test]
fn all_fifteen_give_the_cifar_mce() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    short_run(&r, "4");
    let text = ok(&["eval", "corruptions", &r, "--limit", "30", "--severities", "3"]);
    let report = json(&run.join("results/corruptions.json"));
    let mean_acc: f64 = cells(&run).iter().map(|c| c.2).sum::<f64>() / 15.0;
    let mce = report["mce_unnormalized"].as_f64().unwrap();
    assert!((mce - (100.0 - 100.0 * mean_acc)).abs() < 1e-9, "{mce} {mean_acc}");
    assert!(text.contains(&format!("mCE (CIFAR protocol, unnormalised mean error over the 15): {mce:.2}%")), "{text}");
    assert_eq!(report["per_family"].as_array().unwrap().len(), 4);

    // Another run normalised by this one: CE_c = E_c / E_c^ref and relative CE over the 15.
    let other = dir.path().join("other");
    let o = other.display().to_string();
    short_run(&o, "8");
    // The reference's errors come from the same images, corrupted alike, or from nowhere.
    let e = fails(&["eval", "corruptions", &o, "--limit", "30", "--severities", "2", "--reference", &r]);
    assert!(e.contains("was made like this one (the closest differs in severities ([3] there, [2] here))"), "{e}");
    let e = fails(&["eval", "corruptions", &o, "--limit", "20", "--severities", "3", "--reference", &r]);
    assert!(e.contains("differs in images (30 there, 20 here), limit (30 there, 20 here)); run eval"), "{e}");
    let cifar_run = dir.path().join("cifar");
    std::fs::create_dir_all(cifar_run.join("results")).unwrap();
    std::fs::write(cifar_run.join("config.toml"), "[data]\ndataset = \"cifar10\"\n").unwrap();
    let c = cifar_run.display().to_string();
    let e = fails(&["eval", "corruptions", &o, "--limit", "20", "--severities", "3", "--reference", &c]);
    assert!(e.contains("a run on cifar10, this one is on fashion-mnist-mini"), "{e}");
    // An evaluation kept beside the reference's primary one is found when it matches.
    ok(&["eval", "corruptions", &r, "--limit", "20", "--severities", "3"]);
    let small = ok(&["eval", "corruptions", &o, "--limit", "20", "--severities", "3", "--reference", &r]);
    assert!(small.contains(&format!("mCE normalised by {r}")), "{small}");
    let e = fails(&[
        "eval",
        "corruptions",
        &o,
        "--limit",
        "30",
        "--severities",
        "3",
        "--reference",
        &dir.path().display().to_string(),
    ]);
    assert!(e.contains("no corruption results there"), "{e}");
    let text = ok(&["eval", "corruptions", &o, "--limit", "30", "--severities", "3", "--reference", &r]);
    let mine = json(&other.join("results/corruptions.json"));
    let error = |rep: &serde_json::Value, c: &str| {
        1.0 - rep["per_corruption"].as_array().unwrap().iter().find(|p| p["corruption"] == c).unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    let (clean_o, clean_r) =
        (1.0 - mine["clean_accuracy"].as_f64().unwrap(), 1.0 - report["clean_accuracy"].as_f64().unwrap());
    let (mut ce, mut rel) = (0.0, Vec::new());
    for c in corrupt::BENCHMARK {
        ce += error(&mine, c) / error(&report, c) / 15.0;
        if error(&report, c) > clean_r {
            rel.push((error(&mine, c) - clean_o) / (error(&report, c) - clean_r));
        }
    }
    let got = &mine["reference"];
    assert!((got["mce"].as_f64().unwrap() - 100.0 * ce).abs() < 1e-9, "{got}");
    let rel_mean = 100.0 * rel.iter().sum::<f64>() / rel.len() as f64;
    assert!((got["relative_mce"].as_f64().unwrap() - rel_mean).abs() < 1e-9, "{got}");
    assert_eq!(got["relative_left_out"].as_array().unwrap().len(), 15 - rel.len());
    assert!(text.contains(&format!("mCE normalised by {r}: {:.1}%", 100.0 * ce)), "{text}");

    // One evaluation however its options were spelt: the 15 names in reverse order and the
    // severities are `common` at 3, so it replaces its own folder rather than adding one.
    let index_path = run.join("results/index.json");
    let kept = |p: &Path| json(p)["evaluations"].as_array().unwrap().len();
    let before = kept(&index_path);
    let reversed: Vec<&str> = corrupt::BENCHMARK.iter().rev().copied().collect();
    ok(&["eval", "corruptions", &r, "--limit", "30", "--severities", "3", "--corruptions", &reversed.join(",")]);
    assert_eq!(kept(&index_path), before);
    // A protocol kept by a suite or an earlier version ("common", no reference key) still matches.
    let mut index = json(&index_path);
    for e in index["evaluations"].as_array_mut().unwrap().iter_mut().filter(|e| e["kind"] == "corruptions") {
        e["protocol"]["corruptions"] = "common".into();
        e["protocol"].as_object_mut().unwrap().remove("reference");
    }
    std::fs::write(&index_path, index.to_string()).unwrap();
    ok(&["eval", "corruptions", &o, "--limit", "30", "--severities", "3", "--reference", &r]);
}

#[test]
fn preview_sheet_and_bad_corrupt_options() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("cat.png");
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])).save(&img).unwrap();
    let sheet = dir.path().join("sheet.png");
    let (i, s) = (img.display().to_string(), sheet.display().to_string());
    let text = ok(&["corrupt", "preview", &i, "--out", &s, "--corruptions", "blur,spatter", "--zoom", "2"]);
    assert!(text.contains("rows, top to bottom: defocus_blur, glass_blur, motion_blur, zoom_blur, spatter"), "{text}");
    let png = image::open(&sheet).unwrap().to_rgb8();
    // 6 columns of 80 px and 5 rows of 60 px, 2 px apart, after a label column and a header row.
    let (left, top) = (png.width() - (6 * 82 - 2), png.height() - (5 * 62 - 2));
    assert!(left >= "motion_blur".len() as u32 * 12 && (14..40).contains(&top), "{left} {top}");
    // The clean tile is the image enlarged twice.
    let input = image::open(&img).unwrap().to_rgb8();
    for (x, y) in [(0, 0), (39, 29), (17, 11)] {
        assert_eq!(png.get_pixel(left + 2 * x + 1, top + 2 * y + 1), input.get_pixel(x, y));
    }
    // Every row has its name written beside it, and every column a header: dark pixels on white.
    let dark = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (x0..x1).any(|x| (y0..y1).any(|y| png.get_pixel(x, y).0.iter().all(|&v| v < 60)))
    };
    for r in 0..5 {
        assert!(dark(0, left, top + r * 62, top + r * 62 + 60), "no label on row {r}");
    }
    for c in 0..6 {
        assert!(dark(left + c * 82, left + c * 82 + 80, 0, top), "no header on column {c}");
    }
    assert!(fails(&["corrupt", "preview", &i, "--out", "sheet.jpg"]).contains("sheet.jpg: the sheet is written as PNG"));
    let missing = dir.path().join("none.png").display().to_string();
    assert!(
        fails(&["corrupt", "preview", &missing, "--out", &s]).contains("none.png: not a readable PNG or JPEG image")
    );

    let out = dir.path().join("c").display().to_string();
    assert!(fails(&["corrupt", "--out", &out]).contains("give --dataset NAME"));
    assert!(fails(&["corrupt", "--dataset", "fashion-mnist-mini"]).contains("give --out DIR"));
    let bad_sev = fails(&["corrupt", "--dataset", "fashion-mnist-mini", "--out", &out, "--severities", "2,2"]);
    assert!(bad_sev.contains("--severities: 2 is listed twice"), "{bad_sev}");
    let bad_preset = fails(&["corrupt", "--dataset", "fashion-mnist-mini", "--out", &out, "--preset", "tiny"]);
    assert!(bad_preset.contains("--preset: unknown preset 'tiny'"), "{bad_preset}");
    let frost = dir.path().display().to_string();
    std::fs::remove_file(&img).unwrap();
    std::fs::remove_file(&sheet).unwrap();
    let bad_frost = fails(&["corrupt", "--dataset", "fashion-mnist-mini", "--out", &out, "--frost-dir", &frost]);
    assert!(
        bad_frost.contains("--frost-dir:") && bad_frost.contains("holds no .png or .jpg frost textures"),
        "{bad_frost}"
    );
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let blocked = dir.path().join("file/out").display().to_string();
    let e = fails(&["corrupt", "--dataset", "fashion-mnist-mini", "--out", &blocked]);
    assert!(e.contains("file/out: cannot create the output directory"), "{e}");
}

#[test]
fn bench_times_every_corruption() {
    let text = ok(&["corrupt", "bench", "--sizes", "32,40", "--images", "1"]);
    for name in corrupt::ALL {
        let row = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing: {text}"));
        assert_eq!(row.split_whitespace().count(), 3, "{row}");
    }
    assert!(text.lines().any(|l| l.starts_with("mean")));
    let noise = ok(&["corrupt", "bench", "--sizes", "32", "--images", "1", "--corruptions", "noise"]);
    let rows: Vec<&str> = noise.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(rows, ["gaussian_noise", "shot_noise", "impulse_noise", "mean"], "{noise}");
}

#[test]
fn image_folders_come_out_in_the_imagenet_c_layout() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        for (class, shade) in [("cat", 40u8), ("dog", 200u8)] {
            let d = dir.path().join("data").join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            image::RgbImage::from_pixel(70, 50, image::Rgb([shade, 100, 30])).save(d.join("a1.jpg")).unwrap();
        }
    }
    let data = dir.path().join("data").display().to_string();
    let out = dir.path().join("c");
    let o = out.display().to_string();
    ok(&[
        "corrupt",
        "--dataset",
        "folder",
        "--data-dir",
        &data,
        "--image-size",
        "48",
        "--out",
        &o,
        "--corruptions",
        "contrast,snow",
        "--severities",
        "2",
    ]);
    let img = image::open(out.join("snow/2/dog/a1.png")).unwrap();
    assert_eq!((img.width(), img.height()), (48, 48));
    assert!(out.join("contrast/2/cat/a1.png").is_file());
    assert!(!out.join("snow.partial").exists());
    assert_eq!(json(&out.join("manifest.json"))["layout"], "folders");

    // A run on the same folders: its accuracy read back from the folders equals the one generated on the fly.
    let run = dir.path().join("run");
    let r = run.display().to_string();
    let size = ["--set", "data.image_size=[48,48]", "--val-fraction", "0", "--batch-size", "2"];
    ok(&[&["train", "--quiet", "--dataset", "folder", "--data-dir", &data, "--steps", "2", "--out", &r][..], &size]
        .concat());
    let sel = ["--corruptions", "contrast,snow", "--severities", "2"];
    ok(&[&["eval", "corruptions", &r][..], &sel].concat());
    let fly = cells(&run);
    let text = ok(&[&["eval", "corruptions", &r, "--from", &o][..], &sel].concat());
    assert_eq!(cells(&run), fly, "{text}");
    assert!(json(&run.join("results/corruptions.json"))["source"].as_str().unwrap().ends_with("(image folders)"));
    let e = fails(&["eval", "corruptions", &r, "--from", &o, "--corruptions", "snow", "--severities", "3"]);
    assert!(e.contains("snow/3: missing (ImageNet-C layout"), "{e}");
    let bird = out.join("snow/2/bird");
    std::fs::create_dir_all(&bird).unwrap();
    image::RgbImage::from_pixel(48, 48, image::Rgb([1, 2, 3])).save(bird.join("b.png")).unwrap();
    let e = fails(&[&["eval", "corruptions", &r, "--from", &o][..], &sel].concat());
    assert!(e.contains("snow/2/bird: a class folder the model's dataset does not have"), "{e}");
}

#[test]
fn corrupt_reads_only_the_split_it_corrupts() {
    // A CIFAR-10 folder holding test_batch.bin alone, as someone with only the test set has it.
    let dir = tempfile::tempdir().unwrap();
    let cifar = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&cifar).unwrap();
    let records: Vec<u8> = (0..6u8)
        .flat_map(|i| std::iter::once(i % 10).chain((0..3072).map(move |j| (j * 5 + i as usize * 31) as u8)))
        .collect();
    std::fs::write(cifar.join("test_batch.bin"), records).unwrap();
    let (data, out) = (dir.path().display().to_string(), dir.path().join("c").display().to_string());
    let args = ["corrupt", "--dataset", "cifar10", "--data-dir", &data, "--corruptions", "fog"];
    let text = ok(&[&args[..], &["--split", "test", "--severities", "1", "--out", &out]].concat());
    assert!(text.contains("6 corrupted images"), "{text}");
    assert_eq!(corrupt::npy::read(&dir.path().join("c/fog.npy")).unwrap().shape, vec![6, 32, 32, 3]);
    let e = fails(&[&args[..], &["--split", "train", "--out", &out]].concat());
    assert!(e.contains("no data_batch_1.bin"), "{e}");
}

#[test]
fn frost_uses_the_reference_photographs_by_default_and_says_when_it_is_procedural() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for k in 1..=6 {
        let img = image::RgbImage::from_fn(160, 160, |x, y| image::Rgb([(x * 7 + y * k) as u8, 200, 255]));
        img.save(photos.join(format!("frost{k}.png"))).unwrap();
    }
    let run = |frost_env: Option<&std::path::Path>, extra: &[&str], out: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_robustcnn"));
        cmd.args(["corrupt", "--dataset", "fashion-mnist-mini", "--corruptions", "frost", "--severities", "3"])
            .args(["--limit", "4", "--out", dir.path().join(out).to_str().unwrap()])
            .args(extra)
            .env("ROBUSTCNN_CACHE", dir.path().join("empty-cache"))
            .env_remove("ROBUSTCNN_FROST_DIR");
        if let Some(p) = frost_env {
            cmd.env("ROBUSTCNN_FROST_DIR", p);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            std::fs::read(dir.path().join(out).join("frost.npy")).unwrap(),
        )
    };
    let (text, procedural) = run(None, &[], "a");
    assert!(text.contains("procedural frost"), "no photographs anywhere: {text}");
    let (text, photographs) = run(Some(&photos), &[], "b");
    assert!(text.contains("frost photographs"), "{text}");
    assert_ne!(procedural, photographs);
    let (text, opted_out) = run(Some(&photos), &["--procedural-frost"], "c");
    assert!(text.contains("procedural frost"), "{text}");
    assert_eq!(opted_out, procedural);
}
