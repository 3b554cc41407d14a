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
    let text = ok(&["eval", "clean", r, "--limit", "2"]);
    assert!(text.contains("(2 queries, 11 gallery images)"), "a limit takes queries, never the gallery: {text}");
    let e = fails(&["eval", "corruptions", r, "--corruptions", "fog", "--severities", "1"]);
    assert!(e.contains("re-identification") && e.contains("not evaluated yet"), "{e}");
    std::fs::write(data.join("query/0003.jpg"), b"").unwrap();
    let e = fails(&["eval", "clean", r]);
    assert!(e.contains("0003.jpg") && e.contains("<person>_c<camera>"), "{e}");
}
