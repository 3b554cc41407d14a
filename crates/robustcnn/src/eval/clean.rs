//! Clean evaluation: top-1 / top-5, per-class accuracy, confusion matrix, NLL and expected calibration
//! error (15 equal-width confidence bins, Guo et al. 2017); for a multi-label task per-class AP and
//! mAP (docs/multilabel.md §3).
use crate::data::loader::{for_each_prefetched, LoaderSpec};
use crate::data::Dataset;
use crate::error::Result;
use crate::eval::multilabel::{multilabel_metrics, top1_precision, ApMethod, MultiLabelResult};
use crate::eval::retrieval::RetrievalResult;
use crate::eval::store::Evaluation;
use crate::models::Network;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

pub const ECE_BINS: usize = 15;

/// The clean-evaluation results of one model on one dataset.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CleanResult {
    pub samples: usize,
    pub top1: f64,
    pub top5: Option<f64>,
    pub nll: f64,
    pub ece: f64,
    /// Accuracy per class; null for a class with no images among those evaluated.
    pub per_class_accuracy: Vec<f64>,
    /// Images per class among those evaluated.
    pub per_class_samples: Vec<u64>,
    /// confusion[true][predicted] counts.
    pub confusion: Vec<Vec<u64>>,
    pub class_names: Vec<String>,
    /// A multi-label task's AP and mAP; `top1` is then the top-1 precision, `nll` the mean binary
    /// cross-entropy, and there is no confusion matrix or ECE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<MultiLabelResult>,
    /// A re-identification test set's retrieval results (docs/reid.md §3); `top1` is then Rank-1
    /// and there are no class metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<RetrievalResult>,
}

/// Per-sample outputs: softmax probabilities (multi-label: per-class sigmoids), row-major samples × classes. In a data-parallel job,
/// rank r computes batches r, r + world, … and a sum over the ranks puts every row in place, so the
/// result is bitwise the single-process one (docs/distributed.md §3).
pub fn predict(net: &Network, ds: &Dataset, batch_size: usize, device: Device) -> Result<Vec<f32>> {
    let spec = LoaderSpec::evaluation(batch_size);
    let k = ds.num_classes();
    let shard = super::shard::Shard::current();
    let mut out = vec![0f32; ds.len() * k];
    tch::no_grad(|| -> Result<()> {
        let idx: Vec<usize> = (0..ds.len()).collect();
        let mine: Vec<&[usize]> =
            idx.chunks(batch_size.max(1)).enumerate().filter(|(c, _)| shard.mine(*c)).map(|(_, c)| c).collect();
        for_each_prefetched(ds, &mine, &spec, device, |chunk, b| {
            if let Some(e) = b.error {
                return Err(crate::error::Error::Config(e));
            }
            let logits = net.forward(&b.to_device(device).0, false);
            let probs = if ds.is_multi_label() { logits.sigmoid() } else { logits.softmax(-1, Kind::Float) };
            let probs = super::finite::poison_bad_rows(&logits, &probs).to_kind(Kind::Float).to_device(Device::Cpu);
            let rows = Vec::<f32>::try_from(&probs.flatten(0, -1)).unwrap_or_default();
            out[chunk[0] * k..chunk[0] * k + rows.len()].copy_from_slice(&rows);
            Ok(())
        })
    })?;
    let merged = shard.sum_f32(out)?;
    super::finite::check_values(&merged, k)?;
    Ok(merged)
}

/// Metrics from probabilities (samples × classes) and labels.
pub fn metrics_from_probs(probs: &[f32], labels: &[u16], class_names: &[String]) -> CleanResult {
    let k = class_names.len();
    let n = labels.len();
    let mut confusion = vec![vec![0u64; k]; k];
    let (mut top1, mut top5, mut nll) = (0usize, 0usize, 0f64);
    let mut bins = vec![(0usize, 0f64, 0usize); ECE_BINS];
    for (i, &y) in labels.iter().enumerate() {
        let p = &probs[i * k..(i + 1) * k];
        let y = y as usize;
        let (pred, conf) = p.iter().enumerate().fold((0, f32::MIN), |b, (j, &v)| if v > b.1 { (j, v) } else { b });
        confusion[y][pred] += 1;
        top1 += (pred == y) as usize;
        top5 += (p.iter().filter(|&&v| v > p[y]).count() < 5) as usize;
        nll -= (p[y].max(1e-12) as f64).ln();
        let b = ((conf as f64 * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += conf as f64;
        bins[b].2 += (pred == y) as usize;
    }
    let ece = bins.iter().map(|&(c, s, a)| if c == 0 { 0.0 } else { (a as f64 - s).abs() / n as f64 }).sum();
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let total: u64 = row.iter().sum();
            if total == 0 {
                f64::NAN
            } else {
                row[c] as f64 / total as f64
            }
        })
        .collect();
    CleanResult {
        samples: n,
        top1: top1 as f64 / n.max(1) as f64,
        top5: (k > 5).then(|| top5 as f64 / n.max(1) as f64),
        nll: nll / n.max(1) as f64,
        ece,
        per_class_accuracy: per_class,
        per_class_samples: confusion.iter().map(|row| row.iter().sum()).collect(),
        confusion,
        class_names: class_names.to_vec(),
        multi_label: None,
        retrieval: None,
    }
}

/// Multi-label metrics from sigmoid scores (samples × classes) and the devkit's targets.
pub fn multilabel_from_probs(probs: &[f32], targets: &[i8], class_names: &[String], method: ApMethod) -> CleanResult {
    let k = class_names.len();
    let m = multilabel_metrics(probs, targets, class_names, method);
    let (mut bce, mut terms) = (0f64, 0usize);
    for (&p, &t) in probs.iter().zip(targets).filter(|(_, &t)| t != 0) {
        let p = (p as f64).clamp(1e-12, 1.0 - 1e-12);
        bce -= if t > 0 { p.ln() } else { (1.0 - p).ln() };
        terms += 1;
    }
    CleanResult {
        samples: targets.len() / k.max(1),
        top1: top1_precision(probs, targets, k),
        top5: None,
        nll: bce / terms.max(1) as f64,
        ece: f64::NAN,
        per_class_accuracy: Vec::new(),
        per_class_samples: m.positives.clone(),
        confusion: Vec::new(),
        class_names: class_names.to_vec(),
        multi_label: Some(m),
        retrieval: None,
    }
}

/// Evaluates `net` on `ds` in eval mode (sharded over the ranks of a data-parallel job).
pub fn evaluate(net: &Network, ds: &Dataset, batch_size: usize, device: Device) -> Result<CleanResult> {
    evaluate_with(net, ds, batch_size, device, ApMethod::default())
}

/// [`evaluate`] with a choice of AP definition for a multi-label task.
pub fn evaluate_with(
    net: &Network,
    ds: &Dataset,
    batch_size: usize,
    device: Device,
    ap: ApMethod,
) -> Result<CleanResult> {
    if ds.retrieval.is_some() {
        return Ok(retrieval_result(super::retrieval::evaluate(net, ds, batch_size, device)?, &ds.class_names));
    }
    Ok(metrics_for(ds, &predict(net, ds, batch_size, device)?, ap))
}

/// A re-ID evaluation as a clean result: Rank-1 as `top1`, no class metrics.
pub fn retrieval_result(r: RetrievalResult, class_names: &[String]) -> CleanResult {
    CleanResult {
        samples: r.queries,
        top1: r.rank1,
        top5: Some(r.rank5),
        nll: f64::NAN,
        ece: f64::NAN,
        per_class_accuracy: Vec::new(),
        per_class_samples: Vec::new(),
        confusion: Vec::new(),
        class_names: class_names.to_vec(),
        multi_label: None,
        retrieval: Some(r),
    }
}

/// The metrics of `ds`'s kind (single- or multi-label) from its predictions.
pub fn metrics_for(ds: &Dataset, probs: &[f32], ap: ApMethod) -> CleanResult {
    match &ds.targets {
        Some(t) => multilabel_from_probs(probs, t, &ds.class_names, ap),
        None => metrics_from_probs(probs, &ds.labels, &ds.class_names),
    }
}

/// Mean cross-entropy and accuracy of logits against labels (used for validation during training).
pub fn loss_and_accuracy(logits: &Tensor, labels: &Tensor) -> (f64, f64) {
    let loss = logits.cross_entropy_for_logits(labels).double_value(&[]);
    let acc = logits.argmax(-1, false).eq_tensor(labels).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    (loss, acc)
}

impl CleanResult {
    /// The headline score: mAP for a multi-label task, else top-1 accuracy.
    pub fn score(&self) -> f64 {
        self.multi_label.as_ref().map_or(self.top1, |m| m.map)
    }

    /// The headline score's name, as tables print it.
    pub fn score_name(&self) -> &'static str {
        match (&self.multi_label, &self.retrieval) {
            (Some(_), _) => "mAP",
            (_, Some(_)) => "Rank-1",
            _ => "accuracy",
        }
    }

    /// clean.json (with the weights' label), clean_per_class.csv and confusion.csv, to keep under `protocol`.
    pub fn evaluation(&self, weights: &str, protocol: serde_json::Value) -> Evaluation<'static> {
        let mut json = serde_json::to_value(self).unwrap_or_default();
        json["weights"] = serde_json::json!(weights);
        Evaluation {
            kind: "clean",
            protocol,
            samples: self.samples,
            files: match &self.retrieval {
                Some(r) => vec![
                    ("clean.json", serde_json::to_string_pretty(&json).unwrap_or_default()),
                    ("cmc.csv", cmc_csv(r)),
                ],
                None => [
                    ("clean.json", serde_json::to_string_pretty(&json).unwrap_or_default()),
                    ("clean_per_class.csv", self.per_class_csv()),
                ]
                .into_iter()
                .chain(self.multi_label.is_none().then(|| ("confusion.csv", self.confusion_csv())))
                .collect(),
            },
        }
    }

    /// Per-class rows as CSV: class, accuracy, samples (multi-label: class, ap, positives).
    pub fn per_class_csv(&self) -> String {
        if let Some(m) = &self.multi_label {
            let mut s = String::from("class,ap,positives\n");
            for (c, name) in self.class_names.iter().enumerate() {
                let ap = m.per_class_ap[c].map_or(String::new(), |v| format!("{v:.6}"));
                s += &format!("{},{ap},{}\n", csv_field(name), m.positives[c]);
            }
            return s;
        }
        let mut s = String::from("class,accuracy,samples\n");
        for (c, name) in self.class_names.iter().enumerate() {
            let total: u64 = self.confusion[c].iter().sum();
            let acc = if total == 0 { String::new() } else { format!("{:.6}", self.per_class_accuracy[c]) };
            s += &format!("{},{acc},{}\n", csv_field(name), total);
        }
        s
    }

    /// The confusion matrix as CSV, rows true classes, columns predicted classes.
    pub fn confusion_csv(&self) -> String {
        let mut s = String::from("true\\predicted");
        for name in &self.class_names {
            s += &format!(",{}", csv_field(name));
        }
        s.push('\n');
        for (c, row) in self.confusion.iter().enumerate() {
            s += &csv_field(&self.class_names[c]);
            for v in row {
                s += &format!(",{v}");
            }
            s.push('\n');
        }
        s
    }
}

/// CMC per rank as CSV: rank, matching fraction.
fn cmc_csv(r: &RetrievalResult) -> String {
    let mut s = String::from("rank,cmc\n");
    for (i, v) in r.cmc.iter().enumerate() {
        s += &format!("{},{v:.6}\n", i + 1);
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
