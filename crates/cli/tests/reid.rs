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
    let text = ok(&["eval", "reid-attack", r, "--attack", "mi-fgsm", "--iters", "3"]);
    assert!(text.contains("mi-fgsm ε=5/255 (3 steps of 1/255): Rank-1"), "{text}");
    let a = serde_json::from_slice::<serde_json::Value>(&std::fs::read(run.join("results/reid_attacks.json")).unwrap())
        .unwrap();
    assert!(a["max_perturbation"].as_f64().unwrap() <= 5.0 / 255.0 + 1e-6, "{a}");
    assert!(a["mean_similarity_to_clean"].as_f64().unwrap() < 1.0, "{a}");
    let e = fails(&["eval", "attack", r, "--attack", "fgsm", "--eps", "2/255"]);
    assert!(e.contains("re-identification") && e.contains("eval reid-attack"), "{e}");
    let e = fails(&["eval", "reid-attack", r, "--attack", "pgd"]);
    assert!(e.contains("expected i-fgsm or mi-fgsm"), "{e}");
    std::fs::write(data.join("query/0003.jpg"), b"").unwrap();
    let e = fails(&["eval", "clean", r]);
    assert!(e.contains("0003.jpg") && e.contains("<person>_c<camera>"), "{e}");
}
