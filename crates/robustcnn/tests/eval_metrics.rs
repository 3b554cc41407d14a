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
