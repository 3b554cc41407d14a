//! Person re-identification from the command line on a Market-1501 fixture: `data info`, LFM's
//! re-ID baseline trained over the identities and evaluated as retrieval (Rank-1, mAP, CMC), and
//! the evaluations not built for it refused.
mod common;
#[path = "../../robustcnn/tests/common/layouts.rs"]
mod layouts;
use common::{fails, ok};

#[test]
fn a_market_run_trains_over_identities_and_is_evaluated_as_retrieval() {
    let dir = tempfile::tempdir().unwrap();
    let data = layouts::market(&dir.path().join("Market-1501"));
    let d = dir.path().to_str().unwrap();
    let info = ok(&["data", "info", "market1501", "--data-dir", d]);
    assert!(info.contains("train: 16 images of 4 identities over cameras [1, 2]"), "{info}");
    assert!(
        info.contains("gallery: 11 images of 3 identities over cameras [1, 2, 3]; 1 junk (-1), 1 distractors (0000)"),
        "{info}"
    );
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let text = ok(&[
        "train",
        "--quiet",
        "--dataset",
        "market1501",
        "--data-dir",
        d,
        "--set",
        "data.image_size=[32, 16]",
        "--model",
        "resnet50-reid",
        "--method",
        "lfm+lgpr",
        "--set",
        "method.lfm.stage=\"conv1\"",
        "--set",
        "method.lfm.probability=1.0",
        "--set",
        "optim.backbone_lr_scale=0.1",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--val-fraction",
        "0",
        "--out",
        r,
    ]);
    assert!(text.contains("retrieval: Rank-1") && text.contains("(3 queries, 11 gallery images)"), "{text}");
    let clean =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(run.join("results/clean.json")).unwrap()).unwrap();
    let x = &clean["retrieval"];
    assert_eq!((x["queries"].as_u64(), x["gallery"].as_u64()), (Some(3), Some(11)));
    assert_eq!(x["queries_without_matches"], 0, "every query has its person on cameras 2 and 3");
    assert_eq!(clean["top1"], x["rank1"]);
    let cmc = std::fs::read_to_string(run.join("results/cmc.csv")).unwrap();
    assert!(cmc.starts_with("rank,cmc\n1,") && cmc.lines().count() == 21, "{cmc}");
    ok(&["compare", r, "--out", dir.path().join("cmp").to_str().unwrap()]);
    let md = std::fs::read_to_string(dir.path().join("cmp/comparison.md")).unwrap();
    assert!(md.contains("| clean Rank-1 | mAP |") && md.contains("re-identification"), "{md}");
    let text = ok(&["eval", "clean", r, "--rerank"]);
    assert!(text.contains("retrieval, re-ranked: Rank-1"), "{text}");
    let again =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(run.join("results/clean.json")).unwrap()).unwrap();
    assert_eq!(again["retrieval"]["re_ranking"]["k1"], 20);
    let text = ok(&["eval", "clean", r, "--limit", "2"]);
    assert!(text.contains("(2 queries, 11 gallery images)"), "a limit takes queries, never the gallery: {text}");
    ok(&["eval", "corruptions", r, "--corruptions", "fog,gaussian_noise", "--severities", "1,5"]);
    let c = serde_json::from_slice::<serde_json::Value>(&std::fs::read(run.join("results/corruptions.json")).unwrap())
        .unwrap();
    assert_eq!(c["metric"], "Rank-1");
    assert_eq!(c["clean_accuracy"], x["rank1"], "the clean queries' Rank-1 is the reference");
    let cells = c["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    assert!(cells.iter().all(|cell| cell["samples"] == 3 && cell["map"].is_number()), "{cells:?}");
    let text = ok(&["eval", "reid-attack", r, "--attack", "i-fgsm,mi-fgsm", "--eps", "2/255,5/255", "--iters", "3"]);
    assert!(text.contains("mi-fgsm ε=5/255 (3 steps of 1/255): Rank-1"), "{text}");
    let a = serde_json::from_slice::<serde_json::Value>(&std::fs::read(run.join("results/reid_attacks.json")).unwrap())
        .unwrap();
    let results = a["results"].as_array().unwrap();
    let runs: Vec<(&str, &str)> =
        results.iter().map(|x| (x["attack"].as_str().unwrap(), x["eps_text"].as_str().unwrap())).collect();
    assert_eq!(runs, [("i-fgsm", "2/255"), ("i-fgsm", "5/255"), ("mi-fgsm", "2/255"), ("mi-fgsm", "5/255")]);
    for x in results {
        let eps = x["eps"].as_f64().unwrap();
        assert!(x["max_perturbation"].as_f64().unwrap() <= eps + 1e-6, "{x}");
        // A cosine; that the attack lowers it is tested on a model with a known feature (tests/reid.rs).
        assert!(x["mean_similarity_to_clean"].as_f64().unwrap().abs() <= 1.0 + 1e-5, "{x}");
        assert_eq!(x["attacked"]["queries"], 3);
    }
    assert_eq!(a["clean"]["rank1"], x["rank1"], "the clean row is the run's own retrieval");
    let csv = std::fs::read_to_string(run.join("results/reid_attacks.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "attack,eps,step,iters,rank1,rank5,rank10,map,similarity_to_clean,max_perturbation");
    assert!(lines[1].starts_with("clean,0,") && lines[5].starts_with("mi-fgsm,5/255,0.003922,3,"), "{csv}");
    ok(&["compare", r, "--out", dir.path().join("cmp").to_str().unwrap()]);
    let md = std::fs::read_to_string(dir.path().join("cmp/comparison.md")).unwrap();
    assert!(md.contains("| mi-fgsm 5/255 Rank-1 | mi-fgsm 5/255 mAP |"), "{md}");
    let e = fails(&["eval", "reid-attack", r, "--iters", "0"]);
    assert!(
        e.contains("--step 1/255, 0 iterations: the attack needs a positive step and at least one iteration"),
        "{e}"
    );
    // A repeated attack or budget would list one result twice.
    let e = fails(&["eval", "reid-attack", r, "--attack", "i-fgsm,mi-fgsm,i-fgsm"]);
    assert!(e.contains("--attack lists i-fgsm twice"), "{e}");
    let e = fails(&["eval", "reid-attack", r, "--eps", "2/255,0.00784313725490196"]);
    assert!(e.contains("--eps lists 0.00784313725490196 twice (as 2/255)"), "{e}");
    let e = fails(&["eval", "attack", r, "--attack", "fgsm", "--eps", "2/255"]);
    assert!(e.contains("re-identification") && e.contains("eval reid-attack"), "{e}");
    let e = fails(&["eval", "reid-attack", r, "--attack", "pgd"]);
    assert!(e.contains("expected i-fgsm or mi-fgsm"), "{e}");
    std::fs::write(data.join("query/0003.jpg"), b"").unwrap();
    let e = fails(&["eval", "clean", r]);
    assert!(e.contains("0003.jpg") && e.contains("<person>_c<camera>"), "{e}");
}

/// LGPR against LFM + LGPR on the Market fixture, one seed, five steps each.
const REID_SUITE: &str = r#"
[suite]
name = "re-ID suite"
methods = ["lgpr", "lfm+lgpr"]
seeds = [0]
baseline = "lgpr"

[evaluate]
weights = "last"
corruptions = "fog"
severities = [1]
attacks = []
feature_attacks = ["mi-fgsm"]
feature_iters = 2
large_budget_check = false
explain_image = 0

[data]
dataset = "market1501"
image_size = [32, 16]
batch_size = 4
val_fraction = 0.0

[model]
name = "resnet50-reid"

[train]
# Two steps leave ResNet-50's batch-norm running statistics so far from the batches' that its
# evaluation-mode features overflow to NaN, which every evaluation refuses (docs/results.md).
steps = 5

[method.lfm]
stage = "conv1"
"#;

#[test]
fn a_reid_suite_reports_rank1_and_map_under_corrupted_and_attacked_queries() {
    let dir = tempfile::tempdir().unwrap();
    layouts::market(&dir.path().join("Market-1501"));
    let recipe = dir.path().join("suite.toml");
    std::fs::write(&recipe, REID_SUITE).unwrap();
    let (recipe, d) = (recipe.to_str().unwrap(), dir.path().to_str().unwrap());
    let data_dir = format!("data.data_dir={:?}", d);
    let out = dir.path().join("s");
    let outs = out.to_str().unwrap();
    ok(&["suite", recipe, "--set", &data_dir, "--out", outs]);
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    for column in ["clean Rank-1", "| mAP |", "weather Rank-1", "mi-fgsm 5/255 Rank-1", "mi-fgsm 5/255 mAP"] {
        assert!(md.contains(column), "{column} missing: {md}");
    }
    let run = out.join("runs/market1501/resnet50-reid/all/lfm+lgpr/seed-0/results");
    let a: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("reid_attacks.json")).unwrap()).unwrap();
    assert_eq!((a["results"][0]["attack"].as_str(), a["results"][0]["iters"].as_u64()), (Some("mi-fgsm"), Some(2)));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("mi-fgsm: robust Rank-1 against ε"), "the report charts the feature attack");
    // Attacks that do not fit the task are refused before any training.
    let wrong = REID_SUITE.replace("attacks = []", "attacks = [\"fgsm\"]");
    std::fs::write(dir.path().join("wrong.toml"), wrong).unwrap();
    let e = fails(&[
        "suite",
        dir.path().join("wrong.toml").to_str().unwrap(),
        "--set",
        &data_dir,
        "--out",
        &format!("{d}/w"),
    ]);
    assert!(
        e.contains("evaluate.attacks: market1501 is re-identification") && e.contains("evaluate.feature_attacks"),
        "{e}"
    );
    assert!(!dir.path().join("w/runs").exists(), "nothing was trained");
    // The same suite on 28 px Fashion-MNIST, whose images keep their size.
    let classifier = REID_SUITE
        .replace("dataset = \"market1501\"", "dataset = \"fashion-mnist-mini\"")
        .replace("image_size = [32, 16]\n", "");
    std::fs::write(dir.path().join("classifier.toml"), classifier).unwrap();
    let e = fails(&["suite", dir.path().join("classifier.toml").to_str().unwrap(), "--out", &format!("{d}/c")]);
    assert!(e.contains("evaluate.feature_attacks: attack re-identification queries; fashion-mnist-mini"), "{e}");
}
