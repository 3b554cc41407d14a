//! Multi-label metrics as the PASCAL VOC devkit computes them: per-class average precision (the
//! all-points AP of VOC 2010+ or the 11-point AP of VOC 2007) and their mean (docs/multilabel.md §3).
use serde::{Deserialize, Serialize};

/// Which of the devkit's AP definitions to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApMethod {
    /// VOC 2010+: the area under the precision envelope at every recall step (VOCap.m).
    #[default]
    AllPoints,
    /// VOC 2007: the mean of the best precision at recall ≥ 0, 0.1, …, 1.
    #[serde(rename = "11-point")]
    ElevenPoint,
}

impl ApMethod {
    /// Parses "all-points" or "11-point".
    pub fn parse(s: &str) -> Option<ApMethod> {
        match s {
            "all-points" => Some(ApMethod::AllPoints),
            "11-point" | "eleven-point" => Some(ApMethod::ElevenPoint),
            _ => None,
        }
    }
}

/// Average precision of one class from scores and the devkit's targets (1 present, -1 absent,
/// 0 difficult: left out). Ties keep image order, as the devkit's stable sort does. None when the
/// class has no positive image (docs/multilabel.md §3).
pub fn average_precision(scores: &[f32], targets: &[i8], method: ApMethod) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| targets[i] != 0).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = order.iter().filter(|&&i| targets[i] > 0).count();
    if positives == 0 {
        return None;
    }
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut rec, mut prec) = (Vec::with_capacity(order.len()), Vec::with_capacity(order.len()));
    for &i in &order {
        if targets[i] > 0 {
            tp += 1
        } else {
            fp += 1
        }
        rec.push(tp as f64 / positives as f64);
        prec.push(tp as f64 / (tp + fp) as f64);
    }
    Some(match method {
        ApMethod::AllPoints => all_points(&rec, &prec),
        ApMethod::ElevenPoint => {
            (0..=10)
                .map(|t| {
                    let t = t as f64 / 10.0;
                    rec.iter().zip(&prec).filter(|(r, _)| **r >= t).map(|(_, p)| *p).fold(0.0, f64::max)
                })
                .sum::<f64>()
                / 11.0
        }
    })
}

/// VOCap.m: precision made monotone from the right, summed over the recall steps.
fn all_points(rec: &[f64], prec: &[f64]) -> f64 {
    let mrec: Vec<f64> = [0.0].iter().chain(rec).chain(&[1.0]).copied().collect();
    let mut mpre: Vec<f64> = [0.0].iter().chain(prec).chain(&[0.0]).copied().collect();
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    (1..mrec.len()).filter(|&i| mrec[i] != mrec[i - 1]).map(|i| (mrec[i] - mrec[i - 1]) * mpre[i]).sum()
}

/// The multi-label results of one model on one dataset.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MultiLabelResult {
    pub ap_method: ApMethod,
    /// Mean AP over the classes with at least one positive image.
    pub map: f64,
    /// AP per class; null for a class with no positive image.
    pub per_class_ap: Vec<Option<f64>>,
    /// Positive (non-difficult) images per class.
    pub positives: Vec<u64>,
    /// Classes left out of the mean because no image has them.
    pub classes_without_positives: Vec<String>,
}

/// Per-class AP and mAP from scores (samples × classes, row-major) and targets of the same shape.
pub fn multilabel_metrics(
    scores: &[f32],
    targets: &[i8],
    class_names: &[String],
    method: ApMethod,
) -> MultiLabelResult {
    let k = class_names.len();
    let n = targets.len() / k.max(1);
    let column = |c: usize| -> (Vec<f32>, Vec<i8>) { (0..n).map(|i| (scores[i * k + c], targets[i * k + c])).unzip() };
    let per_class_ap: Vec<Option<f64>> = (0..k)
        .map(|c| {
            let (s, t) = column(c);
            average_precision(&s, &t, method)
        })
        .collect();
    let present: Vec<f64> = per_class_ap.iter().flatten().copied().collect();
    MultiLabelResult {
        ap_method: method,
        map: if present.is_empty() { f64::NAN } else { present.iter().sum::<f64>() / present.len() as f64 },
        positives: (0..k).map(|c| (0..n).filter(|&i| targets[i * k + c] > 0).count() as u64).collect(),
        classes_without_positives: per_class_ap
            .iter()
            .zip(class_names)
            .filter(|(ap, _)| ap.is_none())
            .map(|(_, name)| name.clone())
            .collect(),
        per_class_ap,
    }
}

/// Fraction of images whose highest-scoring class is present (1 − one-error).
pub fn top1_precision(scores: &[f32], targets: &[i8], k: usize) -> f64 {
    let n = targets.len() / k.max(1);
    let hits = (0..n)
        .filter(|&i| {
            let row = &scores[i * k..(i + 1) * k];
            let best = row.iter().enumerate().fold((0, f32::MIN), |b, (j, &v)| if v > b.1 { (j, v) } else { b }).0;
            targets[i * k + best] > 0
        })
        .count();
    hits as f64 / n.max(1) as f64
}
