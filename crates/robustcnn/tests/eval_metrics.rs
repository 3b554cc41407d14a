//! Clean metrics on hand-made probability tables.
use robustcnn::eval::clean::metrics_from_probs;

#[test]
fn top1_top5_nll_ece_and_confusion() {
    let names: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    // Sample 0: true 0, predicted 0 with 0.5. Sample 1: true 1, predicted 2 (0.6); true class ranked 2nd.
    // Sample 2: true 5, ranked last: not in the top 5.
    let probs = [[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.1, 0.3, 0.6, 0.0, 0.0, 0.0], [0.3, 0.25, 0.2, 0.15, 0.09, 0.01]];
    let flat: Vec<f32> = probs.iter().flatten().map(|&v| v as f32).collect();
    let r = metrics_from_probs(&flat, &[0, 1, 5], &names);
    assert!((r.top1 - 1.0 / 3.0).abs() < 1e-9);
    assert!((r.top5.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let nll = -((0.5f32 as f64).ln() + (0.3f32 as f64).ln() + (0.01f32 as f64).ln()) / 3.0;
    assert!((r.nll - nll).abs() < 1e-6);
    // Bins: 0.5 → bin 7 (correct), 0.6 → bin 9 (wrong), 0.3 → bin 4 (wrong).
    // ECE = (|1 − 0.5| + |0 − 0.6| + |0 − 0.3|)/3 = 0.4667.
    assert!((r.ece - 1.4 / 3.0).abs() < 1e-6, "{}", r.ece);
    assert_eq!(r.confusion[1][2], 1);
    assert_eq!(r.confusion[5][0], 1);
    assert_eq!(r.per_class_accuracy[0], 1.0);
    assert_eq!(r.per_class_accuracy[1], 0.0);
    assert!(r.per_class_accuracy[3].is_nan());
    assert!(r.per_class_csv().starts_with("class,accuracy,samples\nc0,1.000000,1\n"));
    assert!(r.confusion_csv().lines().nth(2).unwrap().starts_with("c1,0,0,1,0,0,0"));
}

#[test]
fn perfectly_calibrated_confident_model_has_zero_ece() {
    let names: Vec<String> = vec!["a".into(), "b".into()];
    let r = metrics_from_probs(&[1.0, 0.0, 0.0, 1.0], &[0, 1], &names);
    assert_eq!((r.top1, r.ece), (1.0, 0.0));
    assert!(r.top5.is_none());
}

/// Cells with one accuracy for every benchmark corruption and severity.
fn uniform_cells(accuracy: f64) -> Vec<robustcnn::eval::corruptions::Cell> {
    corrupt::BENCHMARK
        .iter()
        .flat_map(|c| {
            (1..=5).map(move |s| robustcnn::eval::corruptions::Cell {
                corruption: c.to_string(),
                severity: s,
                samples: 100,
                accuracy,
                map: None,
            })
        })
        .collect()
}

#[test]
fn mce_follows_the_cifar_and_the_imagenet_definitions() {
    use robustcnn::eval::corruptions::{summarize, ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS};
    let sev = [1, 2, 3, 4, 5];
    // CIFAR protocol: 100 − 100·mean accuracy, no AlexNet numbers outside ImageNet.
    let r = summarize("t".into(), "best".into(), 0.9, &sev, uniform_cells(0.6), false);
    assert!((r.mce_unnormalized.unwrap() - 40.0).abs() < 1e-9);
    assert!(r.mce_alexnet.is_none() && r.per_corruption[0].ce_alexnet.is_none());
    // ImageNet protocol: CE_c = Σ E / Σ E_AlexNet; relative CE_c = Σ (E − E_clean) / Σ (E_AlexNet − E_AlexNet,clean).
    let r = summarize("t".into(), "best".into(), 0.9, &sev, uniform_cells(0.6), true);
    let ce: f64 = ALEXNET_ERRORS.iter().map(|a| 100.0 * 0.4 / a).sum::<f64>() / 15.0;
    let rel: f64 = ALEXNET_ERRORS.iter().map(|a| 100.0 * (0.4 - 0.1) / (a - ALEXNET_CLEAN_ERROR)).sum::<f64>() / 15.0;
    assert!((r.mce_alexnet.unwrap() - ce).abs() < 1e-9);
    assert!((r.relative_mce_alexnet.unwrap() - rel).abs() < 1e-9);
    // An AlexNet-equal model scores 100.
    let alex: Vec<_> = uniform_cells(0.0)
        .into_iter()
        .map(|mut c| {
            let i = corrupt::BENCHMARK.iter().position(|&b| b == c.corruption).unwrap();
            c.accuracy = 1.0 - ALEXNET_ERRORS[i];
            c
        })
        .collect();
    let r = summarize("t".into(), "best".into(), 1.0 - ALEXNET_CLEAN_ERROR, &sev, alex, true);
    assert!((r.mce_alexnet.unwrap() - 100.0).abs() < 1e-9 && (r.relative_mce_alexnet.unwrap() - 100.0).abs() < 1e-9);
    // A missing corruption or severity withholds the means that need them.
    let partial: Vec<_> = uniform_cells(0.6).into_iter().filter(|c| c.corruption != "fog").collect();
    assert!(summarize("t".into(), "b".into(), 0.9, &sev, partial, true).mce_unnormalized.is_none());
    let two: Vec<_> = uniform_cells(0.6).into_iter().filter(|c| c.severity <= 2).collect();
    let r = summarize("t".into(), "b".into(), 0.9, &[1, 2], two, true);
    assert!(r.mce_unnormalized.is_some() && r.mce_alexnet.is_none());
    // Pooled accuracy weights severities by their sample counts.
    let mut mixed = uniform_cells(0.5);
    mixed.iter_mut().filter(|c| c.corruption == "snow" && c.severity == 1).for_each(|c| {
        c.samples = 300;
        c.accuracy = 1.0;
    });
    let r = summarize("t".into(), "b".into(), 0.9, &sev, mixed, false);
    let snow = r.per_corruption.iter().find(|p| p.corruption == "snow").unwrap();
    assert!((snow.accuracy - (300.0 + 200.0) / 700.0).abs() < 1e-12);
    assert_eq!(snow.family, "weather");
}
