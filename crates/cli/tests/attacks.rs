//! `robustcnn eval attack` end to end on a short run: the result files, numbers that recompute from
//! the per-sample outcomes, and one clear error per bad option.
mod common;
use common::{fails, ok, robustcnn, short_run};

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn eval_attack_writes_results_that_recompute_from_the_per_sample_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    short_run(&r, "8");
    let base = ["eval", "attack", &r, "--limit", "48"];
    // Three PGD steps and APGD iterations keep the test short (the options apply only where a pgd or an apgd is asked).
    let (steps, iters) = (["--steps", "3"], ["--apgd-iters", "3"]);
    let text = ok(&[&base[..], &steps, &iters, &["--attack", "fgsm,pgd,apgd", "--eps", "2/255,0.03"]].concat());
    assert!(text.contains("APGD-CE + APGD-T") && text.contains("worst case") && text.contains("ε=2/255"), "{text}");
    let report = json(&run.join("results/attacks.json"));
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let samples = json(&run.join("results/attack_samples.json"));
    let labels = samples["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 48);
    for (res, per) in results.iter().zip(samples["attacks"].as_array().unwrap()) {
        let correct: Vec<u64> = per["correct"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let recomputed = correct.iter().sum::<u64>() as f64 / 48.0;
        // serde_json parses floats to within an ulp or so, not exactly.
        assert!((res["robust_accuracy"].as_f64().unwrap() - recomputed).abs() < 1e-12, "{}", res["attack"]);
        assert!(res["max_perturbation"].as_f64().unwrap() <= res["eps"].as_f64().unwrap() + 1e-6);
    }
    assert!(report["large_budget_check"]["robust_accuracy"].as_f64().is_some());
    for f in ["attacks.csv", "attacks.svg"] {
        assert!(run.join("results").join(f).is_file(), "{f}");
    }

    // Bad options: one line each, naming the option and what was expected.
    let e = fails(&[&base[..], &["--attack", "deepfool"]].concat());
    assert!(e.contains("--attack deepfool: unknown attack (attacks: fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, apgd, fab, fab-t, square, autoattack)"), "{e}");
    let e = fails(&[&base[..], &["--eps", "-8/255"]].concat());
    assert!(e.contains("--eps -8/255: expected a non-negative number or a fraction such as 8/255"), "{e}");
    let e = fails(&[&base[..], &["--eps", "eight"]].concat());
    assert!(e.contains("--eps eight: expected a non-negative number"), "{e}");
    let e = fails(&["eval", "attack", &r, "--steps", "0"]);
    assert!(e.contains("--steps 0: PGD needs at least 1 step"), "{e}");
    let e = fails(&[&base[..], &["--attack", "pgd", "--target", "10"]].concat());
    assert!(e.contains("--target 10: class out of range (the dataset has 10 classes, 0–9)"), "{e}");
    let e = fails(&[&base[..], &["--attack", "fgsm", "--norm", "l2"]].concat());
    assert!(e.contains("--attack fgsm: fgsm is defined for ℓ∞ only"), "{e}");
    // Parameters given per attack (NAME:KEY=VALUE) come from the registry and are checked there.
    let e = fails(&[&base[..], &["--attack", "pgd:steps=0"]].concat());
    assert!(e.contains("--attack pgd:steps=0: PGD needs at least 1 step"), "{e}");
    let e = fails(&[&base[..], &["--attack", "fgsm,pgd:foo=1"]].concat());
    assert!(e.contains("--attack pgd:foo=1: pgd has no parameter 'foo' (it has: steps, alpha, restarts"), "{e}");
    let e = fails(&[&base[..], &["--attack", "apgd-t:targets=0"]].concat());
    assert!(e.contains("--attack apgd-t:targets=0: at least 1 target class is needed"), "{e}");
    let e = fails(&[&base[..], &["--attack", "fab-t:targets=10"]].concat());
    assert!(e.contains("--attack fab-t:targets=10: this dataset has 10 classes, so at most 9 targets"), "{e}");
    let text =
        ok(&[&base[..], &steps, &["--attack", "pgd:steps=2:alpha=eps/2", "--eps", "4/255", "--no-sanity"]].concat());
    assert!(text.contains("PGD-2 α=ε/2"), "the per-attack steps override --steps 3: {text}");
    // Every attack is one row: a repeat, or two attacks the results would label alike, are refused.
    for (attack, want) in [
        ("fgsm,pgd,fgsm", "--attack lists fgsm twice"),
        ("pgd:steps=5:loss=cw,pgd:loss=cw:steps=5", "--attack lists pgd:loss=cw:steps=5 twice"),
        ("apgd-t:iters=2,apgd-t:iters=3", "apgd-t:iters=2 and apgd-t:iters=3 would both be reported as APGD-T"),
    ] {
        let e = fails(&[&base[..], &["--attack", attack]].concat());
        assert!(e.contains(want), "{attack}: {e}");
    }
    let e = fails(&[&base[..], &["--eps", "8/255,0.03137254901960784"]].concat());
    assert!(e.contains("--eps lists 0.03137254901960784 twice (as 8/255)"), "{e}");
    // Step sizes and starts other than the default are named, one label at every budget.
    let text = ok(&[
        &base[..],
        &steps,
        &["--attack", "pgd,pgd:alpha=2/255,pgd:random_start=false", "--eps", "4/255,8/255", "--no-sanity"],
    ]
    .concat());
    for row in ["PGD-3  ", "PGD-3 α=2/255  ", "PGD-3 clean start  "] {
        assert_eq!(text.matches(row).count(), 2, "{row:?} in the accuracy and the speed table: {text}");
    }
    let e = fails(&[&base[..], &["--norm", "l1"]].concat());
    assert!(e.contains("--norm l1: expected linf or l2"), "{e}");
    // ε = 0 is the curve's clean point: every attack, its step relative to ε, leaves the accuracy clean.
    let text = ok(&[&base[..], &steps, &iters, &["--attack", "fgsm,pgd,apgd", "--eps", "0", "--no-sanity"]].concat());
    let clean = text.split("clean accuracy ").nth(1).and_then(|t| t.split_whitespace().next()).unwrap();
    let table = text.split("images/s").next().unwrap();
    let rows: Vec<&str> = table.lines().skip_while(|l| !l.starts_with("attack ")).skip(1).collect();
    assert_eq!(rows.len(), 4, "FGSM, PGD, APGD and the worst case: {text}");
    assert!(rows.iter().all(|r| r.trim_end().ends_with(clean)), "every row at the clean {clean}: {text}");
    let e = fails(&[&base[..], &["--attack", "pgd:alpha=0", "--eps", "4/255"]].concat());
    assert!(e.contains("--attack pgd:alpha=0: the step size must be positive"), "{e}");
    // A step larger than ε is allowed, with a warning.
    let out = robustcnn(
        &[&base[..], &steps, &["--attack", "pgd", "--eps", "1/255", "--alpha", "2/255", "--no-sanity"]].concat(),
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: PGD: step size α=0.00784 is larger than ε=1/255"), "{err}");
}

#[test]
fn autoattack_reports_each_attack_in_turn_and_which_broke_each_point() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.display().to_string();
    short_run(&r, "8");
    let base = ["eval", "attack", &r, "--limit", "24", "--eps", "4/255", "--no-sanity"];
    let text = ok(&[&base[..], &["--attack", "autoattack:iters=3:targets=2:queries=20", "--version", "plus"]].concat());
    let label = "AutoAttack (plus, iters=3, targets=2, queries=20)";
    assert!(text.contains(label) && text.contains("APGD-CE broke") && text.contains("FAB-T broke"), "{text}");
    let report = json(&run.join("results/attacks.json"));
    let result = &report["results"][0];
    assert_eq!(result["attack"], label);
    let stages = result["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["attack"].as_str().unwrap()).collect();
    assert_eq!(names, ["APGD-CE", "APGD-DLR", "FAB", "Square-20", "APGD-T", "FAB-T"]);
    let after = stages.last().unwrap()["robust_accuracy_after"].as_f64().unwrap();
    assert!((after - result["robust_accuracy"].as_f64().unwrap()).abs() < 1e-12);
    let samples = json(&run.join("results/attack_samples.json"));
    let per = &samples["attacks"][0];
    let broken: usize = stages.iter().map(|s| s["broken"].as_u64().unwrap() as usize).sum();
    let named = per["broken_by"].as_array().unwrap().iter().filter(|b| b.is_string()).count();
    assert_eq!(named, broken, "each broken point names its attack");
    let e = fails(&[&base[..], &["--attack", "pgd", "--version", "plus"]].concat());
    assert!(e.contains("--version plus: only autoattack has versions; add --attack autoattack"), "{e}");
    let e = fails(&[&base[..], &["--attack", "autoattack", "--version", "fast"]].concat());
    assert!(e.contains("--version fast: expected standard, plus or rand"), "{e}");
}
