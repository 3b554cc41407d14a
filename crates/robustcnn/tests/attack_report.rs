//! The attack report on hand-made results: the worst case per budget from per-sample predictions,
//! and each gradient-masking check firing exactly when its condition holds.
use robustcnn::attacks::Norm;
use robustcnn::eval::attack_report::{AttackReport, LargeBudgetCheck};
use robustcnn::eval::attacks::AttackResult;

fn result(attack: &str, eps: f64, predictions: Vec<i64>, labels: &[u16]) -> AttackResult {
    let correct = predictions.iter().zip(labels).filter(|(p, &l)| **p == l as i64).count();
    AttackResult {
        attack: attack.into(),
        norm: Norm::Linf,
        eps,
        eps_text: format!("{}/255", (eps * 255.0).round()),
        robust_accuracy: correct as f64 / labels.len() as f64,
        samples: labels.len(),
        max_perturbation: eps,
        target_success: None,
        restart_disagreement: None,
        stages: None,
        seconds: 1.0,
        images_per_s: 4.0,
        predictions,
        broken_by: Vec::new(),
    }
}

const LABELS: [u16; 4] = [0, 1, 2, 3];

#[test]
fn worst_case_counts_a_sample_only_if_every_attack_at_that_budget_failed() {
    let e = 8.0 / 255.0;
    let results = vec![result("FGSM", e, vec![0, 1, 9, 3], &LABELS), result("PGD-20", e, vec![0, 9, 2, 3], &LABELS)];
    // Sample 3 was misclassified already on the clean image: it never counts as robust.
    let r = AttackReport::new("best".into(), 0, LABELS.to_vec(), vec![0, 1, 2, 9], results, None);
    assert_eq!(r.clean_accuracy, 0.75);
    assert_eq!(r.worst_case.len(), 1);
    assert_eq!(r.worst_case[0].robust_accuracy, 0.25);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let samples = r.samples_json();
    assert_eq!(samples["attacks"][1]["correct"], serde_json::json!([1, 0, 1, 1]));
}

#[test]
fn each_gradient_masking_check_fires_on_its_symptom() {
    let (e1, e2) = (2.0 / 255.0, 4.0 / 255.0);
    let clean = vec![0, 1, 2, 3];
    let results = vec![
        result("FGSM", e1, vec![0, 9, 9, 3], &LABELS),
        // PGD above FGSM at 2/255, and rising from 2/255 to 4/255.
        result("PGD-20", e1, vec![0, 1, 9, 3], &LABELS),
        result("PGD-20", e2, vec![0, 1, 2, 3], &LABELS),
        AttackResult { restart_disagreement: Some(0.5), ..result("PGD-20 ×3", e2, vec![0, 1, 2, 3], &LABELS) },
    ];
    let large = LargeBudgetCheck { attack: "PGD-20".into(), eps: 0.5, robust_accuracy: 0.5, samples: 4, chance: 0.25 };
    let r = AttackReport::new("best".into(), 0, LABELS.to_vec(), clean, results, Some(large));
    let w = r.warnings.join("\n");
    assert_eq!(r.warnings.len(), 4, "{w}");
    assert!(w.contains("PGD-20 accuracy 75.00% is above FGSM's 50.00% at ε=2/255"), "{w}");
    assert!(w.contains("PGD-20 accuracy rises with ε: 75.00% at ε=2/255 but 100.00% at ε=4/255"), "{w}");
    assert!(w.contains("at the very large ε=0.5 leaves 50.00% accuracy, above chance (25.00%)"), "{w}");
    assert!(w.contains("PGD-20 ×3 at ε=4/255: its random restarts disagree on 50.00% of the samples"), "{w}");
    let csv = r.csv();
    assert_eq!(csv.lines().count(), 1 + 4 + 2, "{csv}");
    assert!(r.plot_svg().contains("<polyline"));
}
