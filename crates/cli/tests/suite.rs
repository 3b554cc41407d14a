//! `robustcnn suite`, `compare` and `report` end to end on the embedded data: the grid trains and
//! evaluates under one protocol, reruns skip what is done, a failed run does not stop the others,
//! and the table's numbers are the runs' own.
mod common;
use common::{fails, ok, robustcnn};
use std::path::Path;

/// Two methods × two seeds, a few steps each, a small evaluation.
const RECIPE: &str = r#"
[suite]
name = "test suite"
methods = ["baseline", "lfm"]
seeds = [0, 1]

[evaluate]
limit = 40
severities = [1]
attacks = ["fgsm", "pgd"]
eps = ["2/255"]
pgd_steps = 2
large_budget_check = false

[data]
batch_size = 64

[train]
steps = 4
"#;

fn write_recipe(dir: &Path, text: &str) -> String {
    let path = dir.join("suite.recipe.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_suite_trains_evaluates_compares_and_reruns_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(dir.path(), RECIPE);
    let out = dir.path().join("s");
    let outs = out.display().to_string();
    let text = ok(&["suite", &recipe, "--out", &outs]);
    assert!(text.contains("[1/4] baseline seed 0") && text.contains("[4/4] lfm seed 1"), "{text}");
    assert!(text.contains("suite ETA") && text.contains("report: "), "{text}");
    for f in ["comparison.md", "comparison.csv", "comparison.json", "report.html", "suite.toml"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The table's PGD cell for the baseline is the mean over seeds of the per-sample outcomes.
    let cmp = json(&out.join("comparison.json"));
    let col = cmp["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["key"].as_str().unwrap().starts_with("attack:PGD-2@2/255#"))
        .unwrap();
    let row = &cmp["rows"][0];
    assert_eq!(row["method"], "baseline");
    let mut per_seed = Vec::new();
    for seed in [0, 1] {
        let samples =
            json(&out.join(format!(
                "runs/fashion-mnist-mini/small-cnn/all/baseline/seed-{seed}/results/attack_samples.json"
            )));
        let pgd = samples["attacks"].as_array().unwrap().iter().find(|a| a["attack"] == "PGD-2").unwrap();
        let correct: Vec<u64> = pgd["correct"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(correct.len(), 40);
        per_seed.push(100.0 * correct.iter().sum::<u64>() as f64 / 40.0);
    }
    let mean = row["cells"][col]["mean"].as_f64().unwrap();
    assert!((mean - (per_seed[0] + per_seed[1]) / 2.0).abs() < 1e-9, "{mean} vs {per_seed:?}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("test suite"), "the report has its plots");
    assert!(html.contains("data:image/png;base64,"), "LFM's explain picture is embedded");
    // The suite evaluates 40 images; its clean column says where it comes from instead.
    assert!(html.contains("evaluated on the first 40 test images: corruptions"), "clean is not claimed on 40 images");
    assert!(html.contains("Clean accuracy from each run's most complete evaluation (its images in the table)."));
    // A rerun trains nothing; a changed protocol re-evaluates without retraining.
    let metrics = out.join("runs/fashion-mnist-mini/small-cnn/all/lfm/seed-1/metrics.jsonl");
    let before = std::fs::read_to_string(&metrics).unwrap();
    let again = ok(&["suite", &recipe, "--out", &outs]);
    assert!(!again.contains("done in") && again.contains("— done"), "{again}");
    let again = ok(&["suite", &recipe, "--out", &outs, "--set", "evaluate.eps=[\"1/255\"]"]);
    assert!(again.contains("— evaluate") && again.contains("FGSM 1/255"), "{again}");
    assert_eq!(std::fs::read_to_string(&metrics).unwrap(), before, "re-evaluation does not retrain");
    // The same attacks by hand are the suite's evaluation: one protocol, its folder replaced.
    let index = out.join("runs/fashion-mnist-mini/small-cnn/all/lfm/seed-1/results/index.json");
    let attacks =
        |i: &serde_json::Value| i["evaluations"].as_array().unwrap().iter().filter(|e| e["kind"] == "attacks").count();
    let kept = attacks(&json(&index));
    let by_hand = ["--attack", "fgsm,pgd", "--steps", "2", "--eps", "1/255", "--limit", "40", "--no-sanity"];
    let lfm1 = out.join("runs/fashion-mnist-mini/small-cnn/all/lfm/seed-1").display().to_string();
    ok(&[&["eval", "attack", &lfm1][..], &by_hand].concat());
    assert_eq!(attacks(&json(&index)), kept, "{}", json(&index));
    // With the large-budget check it is another evaluation, kept, of the same setting: one column.
    let checked = &by_hand[..by_hand.len() - 1];
    ok(&[&["eval", "attack", &lfm1][..], checked].concat());
    let i = json(&index);
    let settings: std::collections::BTreeSet<&str> = i["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "attacks" && e["protocol"]["eps"] == serde_json::json!(["1/255"]))
        .map(|e| e["setting"].as_str().unwrap())
        .collect();
    assert_eq!((attacks(&i), settings.len()), (kept + 1, 1), "{i}");
    // Another training recipe in the same directory is refused.
    let e = fails(&["suite", &recipe, "--out", &outs, "--set", "train.steps=5"]);
    assert!(e.contains("holds a suite trained with a different recipe"), "{e}");
    // compare and report over the suite directory.
    let table = ok(&["compare", &outs]);
    assert!(table.contains("| baseline | 2 |") && table.contains("| lfm | 2 |"), "{table}");
    assert!(fails(&["compare", &outs, "--baseline", "tenet"]).contains("--baseline tenet: no run of that method"));
    assert!(fails(&["report", &outs, "--baseline", "tenet"]).contains("--baseline tenet: no run of that method"));
    let out_proc = robustcnn(&["compare", &outs, "--out", "/proc/robustcnn-cmp"]);
    let e = String::from_utf8_lossy(&out_proc.stderr);
    assert!(e.contains("--out /proc/robustcnn-cmp: cannot create the folder") && out_proc.stdout.is_empty(), "{e}");
    let run = out.join("runs/fashion-mnist-mini/small-cnn/all/lfm/seed-0");
    // Each run counts once: a run given twice, or a copy of one (its seed twice), is refused.
    let e = fails(&["compare", &outs, &run.display().to_string()]);
    assert!(e.contains("lfm/seed-0: given twice") && e.contains("counts each run once"), "{e}");
    let copy = dir.path().join("copy");
    assert!(std::process::Command::new("cp").arg("-r").arg(&run).arg(&copy).status().unwrap().success());
    let e = fails(&["compare", &outs, &copy.display().to_string()]);
    assert!(e.contains("are both lfm seed 0 (small-cnn, fashion-mnist-mini): their values would pass for two"), "{e}");
    // A seed of another recipe is not one of the row's seeds either.
    let cfg = std::fs::read_to_string(copy.join("config.toml")).unwrap();
    let cfg = cfg.replace("seed = 0", "seed = 7").replace("probability = 0.15", "probability = 0.3");
    std::fs::write(copy.join("config.toml"), cfg).unwrap();
    let e = fails(&["compare", &outs, &copy.display().to_string()]);
    assert!(
        e.contains("but trained with method.lfm.probability = 0.15 and 0.3: one row's seeds share a recipe"),
        "{e}"
    );
    // A setting at its default is left out of a recipe: a seed trained in bf16 differs from one in fp32.
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let bf16 = cfg.replace("seed = 0", "seed = 7").replace("[train]\n", "[train]\nprecision = \"bf16\"\n");
    std::fs::write(copy.join("config.toml"), bf16).unwrap();
    let e = fails(&["compare", &outs, &copy.display().to_string()]);
    assert!(e.contains("but trained with train.precision = the default and \"bf16\": one row's seeds"), "{e}");
    ok(&["report", &run.display().to_string()]);
    assert!(std::fs::read_to_string(run.join("report.html")).unwrap().contains("<svg"));
    // A run trained on a GPU is compared, reported and evaluated (--device cpu) on a machine without one.
    if !tch::Cuda::is_available() {
        let cfg = run.join("config.toml");
        let text = std::fs::read_to_string(&cfg).unwrap().replace("device = \"cpu\"", "device = \"cuda\"");
        std::fs::write(&cfg, text).unwrap();
        assert!(ok(&["compare", &outs]).contains("| lfm | 2 |"));
        ok(&["eval", "clean", &run.display().to_string(), "--device", "cpu"]);
    }
}

#[test]
fn a_failed_run_is_reported_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    // A stage the model does not have: the recipe parses, the run fails when it builds its model.
    let recipe =
        RECIPE.replace("[\"baseline\", \"lfm\"]", "[\"baseline\", \"tenet\"]").replace("seeds = [0, 1]", "seeds = [0]")
            + "\n[method.tenet]\nstage = \"stage9\"\n";
    let recipe = write_recipe(dir.path(), &recipe);
    let outs = dir.path().join("s").display().to_string();
    let out = robustcnn(&["suite", &recipe, "--out", &outs]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("FAILED: ") && stdout.contains("| baseline | 1 |"), "{stdout}");
    assert!(stderr.contains("1 of 2 runs failed (fashion-mnist-mini/small-cnn/all/tenet/seed-0)"), "{stderr}");
}

#[test]
fn training_fraction_trains_every_method_on_the_same_subset() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(dir.path(), &RECIPE.replace("seeds = [0, 1]", "seeds = [0]"));
    let out = dir.path().join("s");
    ok(&[
        "suite",
        &recipe,
        "--out",
        &out.display().to_string(),
        "--train-fraction",
        "0.1",
        "--set",
        "evaluate.attacks=[]",
    ]);
    let start = |m: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(
            out.join(format!("runs/fashion-mnist-mini/small-cnn/frac-0.1/{m}/seed-0/metrics.jsonl")),
        )
        .unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    };
    // 6,000 images, 10 % held out for validation, 10 % of the rest: 540.
    assert_eq!(start("baseline")["train_samples"], 540);
    assert_eq!(start("lfm")["train_samples"], 540);
    let e = fails(&["suite", &recipe, "--out", &out.display().to_string(), "--train-fraction", "1.5"]);
    assert!(e.contains("suite.train_fractions must list fractions in (0, 1]"), "{e}");
}
