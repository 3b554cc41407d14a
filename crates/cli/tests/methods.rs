//! Training methods from the command line: composition by name, settings in config.toml, loss terms
//! in metrics.jsonl, one-line errors for impossible compositions.
mod common;
use common::{fails, ok};

fn metric_keys(run: &std::path::Path) -> String {
    std::fs::read_to_string(run.join("metrics.jsonl")).unwrap()
}

#[test]
fn tenet_trains_from_the_cli_and_records_its_resolved_settings_and_terms() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("tenet");
    let out = run.to_str().unwrap();
    ok(&[
        "train",
        "--quiet",
        "--method",
        "tenet",
        "--steps",
        "12",
        "--batch-size",
        "64",
        "--set",
        "method.tenet.switch=1",
        "--set",
        "train.log_every=6",
        "--out",
        out,
    ]);
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("[method.tenet]") && config.contains("stage = \"stage1\""), "{config}");
    let metrics = metric_keys(&run);
    assert!(metrics.contains("\"tenet_ce\"") && metrics.contains("\"tenet_orth\""), "{metrics}");
}

#[test]
fn impossible_compositions_are_refused_in_one_line() {
    let listed = ok(&["methods"]);
    assert!(listed.contains("tenet") && listed.contains("after-update") && listed.contains("combine with +"));
    let err = fails(&["train", "--method", "pgd-at+free-at", "--steps", "1", "--out", "/tmp/never-written"]);
    assert!(err.contains("pgd-at and free-at cannot be combined"), "{err}");
    assert!(!std::path::Path::new("/tmp/never-written").exists());
    let err = fails(&[
        "train",
        "--method",
        "tenet",
        "--set",
        "method.tenet.stage=\"stage9\"",
        "--steps",
        "1",
        "--out",
        "/tmp/never-written",
    ]);
    assert!(err.contains("method.tenet.stage") && err.contains("stages: stem, stage1, stage2, head"), "{err}");
}

fn first_step_loss(run: &std::path::Path) -> f64 {
    let metrics = metric_keys(run);
    let line = metrics.lines().find(|l| l.contains("\"event\":\"step\"")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["loss"].as_f64().unwrap()
}

#[test]
fn finetuning_starts_from_the_given_runs_weights() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    common::short_run(source.to_str().unwrap(), "40");
    let run = |name: &str, init: Option<&std::path::Path>| {
        let out = dir.path().join(name);
        let mut args = vec![
            "train",
            "--quiet",
            "--method",
            "st+ca",
            "--steps",
            "1",
            "--batch-size",
            "64",
            "--set",
            "train.log_every=1",
            "--out",
            out.to_str().unwrap(),
        ];
        let init_text = init.map(|p| p.display().to_string());
        if let Some(i) = &init_text {
            args.extend(["--init", i.as_str()]);
        }
        ok(&args);
        out
    };
    let fresh = first_step_loss(&run("fresh", None));
    let tuned_run = run("tuned", Some(&source));
    let tuned = first_step_loss(&tuned_run);
    assert!(tuned < 0.7 * fresh, "finetuned first loss {tuned} vs fresh {fresh}");
    let config = std::fs::read_to_string(tuned_run.join("config.toml")).unwrap();
    assert!(config.contains("init = ") && config.contains("[method.ca]") && config.contains("[method.st]"));
    let err = fails(&[
        "train",
        "--init",
        dir.path().join("nowhere").to_str().unwrap(),
        "--steps",
        "1",
        "--out",
        dir.path().join("never").to_str().unwrap(),
    ]);
    assert!(err.contains("train.init") && err.contains("no weights there"), "{err}");
    assert!(!dir.path().join("never").exists());
}

#[test]
fn explain_draws_lfm_tenet_and_fma_for_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    common::short_run(run.to_str().unwrap(), "5");
    let out = dir.path().join("x.png");
    let printed = ok(&["explain", run.to_str().unwrap(), "test:2", "--out", out.to_str().unwrap()]);
    assert!(printed.contains("TENET at stage1") && printed.contains("picture:"), "{printed}");
    let picture = image::open(&out).unwrap().to_rgb8();
    assert!(picture.width() > 300 && picture.height() > 300);
    // Each row is drawn under its title: the first row's title is light text above the tiles.
    let title_ink = (0..picture.width()).flat_map(|x| (4..18).map(move |y| (x, y)));
    assert!(title_ink.filter(|&(x, y)| picture.get_pixel(x, y).0 == [230, 230, 230]).count() > 100);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap()).unwrap();
    assert_eq!(info["rows"].as_array().unwrap().len(), 5);
    let sizes: i64 = info["tenet_group_sizes"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(sizes, 64, "every channel of small-cnn's stage1 is in one group");
    // A file image works too, with its class given.
    let file = dir.path().join("shirt.png");
    image::GrayImage::from_fn(40, 40, |x, y| image::Luma([((x * y) % 256) as u8])).save(&file).unwrap();
    ok(&["explain", run.to_str().unwrap(), file.to_str().unwrap(), "--label", "6", "--out", out.to_str().unwrap()]);
    let r = run.to_str().unwrap();
    assert!(fails(&["explain", r, "test:99999"]).contains("test:99999: the test set has"));
    assert!(fails(&["explain", r, "nothing.png"]).contains("nothing.png: no such image file"));
    assert!(fails(&["explain", r, "test:1", "--out", "x.jpg"]).contains("expected a .png file name"));
    assert!(fails(&["explain", r, "test:1", "--label", "12"]).contains("--label 12: expected a class index in 0..9"));
}
