//! Robust accuracy under adversarial attacks (docs/methods.md §4.3): each attack at each budget over the
//! evaluation set, with per-sample outcomes, the measured perturbation size, and the worst case over
//! all attacks per budget.
use crate::attacks::{Attack, AttackBatch, Norm};
use crate::data::loader::{make_batch, LoaderSpec};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::shard::Shard;
use crate::models::Network;
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// One attack at one budget over the evaluation set.
#[derive(Clone, Debug, Serialize)]
pub struct AttackResult {
    pub attack: String,
    pub norm: Norm,
    pub eps: f64,
    /// The budget as the user wrote it, e.g. "8/255".
    pub eps_text: String,
    pub robust_accuracy: f64,
    pub samples: usize,
    /// Largest perturbation norm measured over all samples (must not exceed eps).
    pub max_perturbation: f64,
    /// Targeted attacks: fraction of samples classified as their target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_success: Option<f64>,
    /// Multi-restart attacks: fraction of samples whose restarts disagree on whether they were fooled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_disagreement: Option<f64>,
    /// Ensembles (AutoAttack): each of its attacks in order, with the points it broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageResult>>,
    pub seconds: f64,
    pub images_per_s: f64,
    /// Predicted class of each sample under attack (not in the summary JSON; see attack_samples.json).
    #[serde(skip)]
    pub predictions: Vec<i64>,
    /// Ensembles: per sample, the index in `stages` of the attack that broke it (attack_samples.json).
    #[serde(skip)]
    pub broken_by: Vec<Option<usize>>,
}

/// One attack of an ensemble: the points it broke (of those every earlier attack left robust) and
/// the robust accuracy after it.
#[derive(Clone, Debug, Serialize)]
pub struct StageResult {
    pub attack: String,
    pub broken: usize,
    pub robust_accuracy_after: f64,
    pub seconds: f64,
}

/// The per-stage summary from the names and each sample's breaking stage; `correct` marks the
/// samples classified correctly under the whole ensemble.
fn stage_results(names: &[String], seconds: &[f64], broken_by: &[Option<usize>], correct: &[bool]) -> Vec<StageResult> {
    let mut robust = broken_by.iter().zip(correct).filter(|(b, &c)| b.is_some() || c).count();
    let n = broken_by.len().max(1) as f64;
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let broken = broken_by.iter().filter(|b| **b == Some(i)).count();
            robust -= broken;
            StageResult { attack: name.clone(), broken, robust_accuracy_after: robust as f64 / n, seconds: seconds[i] }
        })
        .collect()
}

/// The large-budget check: PGD at a budget that should reach (almost) every point.
#[derive(Clone, Debug, Serialize)]
pub struct LargeBudgetCheck {
    pub attack: String,
    pub eps: f64,
    pub robust_accuracy: f64,
    /// Images attacked (the first up to LARGE_BUDGET_SAMPLES of the set).
    pub samples: usize,
    pub chance: f64,
}

/// The evaluation set of an attack run, prepared once.
#[derive(Clone, Copy)]
pub struct AttackSet<'a> {
    pub net: &'a Network,
    pub data: &'a Dataset,
    pub batch: usize,
    pub device: Device,
    pub seed: u64,
}

impl AttackSet<'_> {
    /// This rank's batches (all of them in a single process): their indices, images and labels.
    fn batches(&self) -> impl Iterator<Item = (Vec<usize>, Tensor, Tensor)> + '_ {
        let spec = LoaderSpec::evaluation(self.batch);
        let shard = Shard::current();
        let idx: Vec<usize> = (0..self.data.len()).collect();
        let chunks: Vec<Vec<usize>> = idx
            .chunks(self.batch.max(1))
            .enumerate()
            .filter(|(b, _)| shard.mine(*b))
            .map(|(_, c)| c.to_vec())
            .collect();
        chunks.into_iter().map(move |c| {
            let b = make_batch(self.data, &c, &spec, 0);
            (c, b.images.to_device(self.device), b.labels.to_device(self.device))
        })
    }

    /// Predictions on the clean images.
    pub fn clean_predictions(&self) -> Result<Vec<i64>> {
        let mut slots = vec![0f64; self.data.len()];
        for (indices, x, _) in self.batches() {
            let (pred, bad) = predict_flagged(self.net, &x);
            put_predictions(&mut slots, &indices, &pred, &bad);
        }
        merged_predictions(slots)
    }

    /// Runs `attack` over the set (this rank's batches, merged with the other ranks'); `progress` is
    /// told the number of samples done.
    pub fn run(&self, attack: &dyn Attack, eps_text: &str, progress: &mut dyn FnMut(usize)) -> Result<AttackResult> {
        let started = Instant::now();
        let n = self.data.len();
        // Per sample: prediction + 1 and breaking stage + 1, 0 where another rank has the sample.
        let (mut pred_slots, mut broken_slots) = (vec![0f64; n], vec![0f64; n]);
        let (mut max_pert, mut disagree, mut restarts_seen) = (0f64, 0usize, false);
        let (mut target_hits, mut targeted) = (0usize, false);
        let (mut stage_names, mut stage_seconds) = (None, Vec::<f64>::new());
        for (indices, x, y) in self.batches() {
            let ids: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
            let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: self.seed };
            let out = attack.perturb(self.net, &b);
            let adv = out.adv.detach();
            let ((pred, bad), pert, in_range) = tch::no_grad(|| {
                let d = (&adv - &x).reshape([x.size()[0], -1]);
                let pert = match attack.norm() {
                    Norm::Linf => d.abs().max().double_value(&[]),
                    Norm::L2 => d.norm_scalaropt_dim(2, [1i64].as_slice(), false).max().double_value(&[]),
                };
                let in_range = adv.min().double_value(&[]) >= 0.0 && adv.max().double_value(&[]) <= 1.0;
                (predict_flagged(self.net, &adv), pert, in_range)
            });
            if !in_range || pert > attack.eps() * (1.0 + 1e-5) + 1e-6 {
                return Err(Error::Config(format!(
                    "{} at ε={eps_text} left the valid set (largest perturbation {pert:.6}, images in [0,1]: {in_range}); this is a bug, please report it",
                    attack.label()
                )));
            }
            max_pert = max_pert.max(pert);
            if let Some(t) = &out.targets {
                targeted = true;
                target_hits += pred.eq_tensor(t).sum(Kind::Int64).int64_value(&[]) as usize;
            }
            if !out.restart_fooled.is_empty() {
                restarts_seen = true;
                for s in 0..indices.len() {
                    let first = out.restart_fooled[0][s];
                    disagree += out.restart_fooled.iter().any(|r| r[s] != first) as usize;
                }
            }
            if let Some(s) = out.stages {
                for (&i, by) in indices.iter().zip(&s.broken_by) {
                    broken_slots[i] = by.map_or(0.0, |k| k as f64 + 1.0);
                }
                stage_seconds.resize(s.seconds.len(), 0.0);
                stage_seconds.iter_mut().zip(&s.seconds).for_each(|(total, t)| *total += t);
                stage_names.get_or_insert(s.names);
            }
            put_predictions(&mut pred_slots, &indices, &pred, &bad);
            progress(indices.len());
        }
        let shard = Shard::current();
        let predictions = merged_predictions(pred_slots)?;
        let max_pert = shard.each(max_pert)?.into_iter().fold(0f64, f64::max);
        let [target_hits, disagree, targeted, restarts_seen] = <[f64; 4]>::try_from(shard.sum_f64(vec![
            target_hits as f64,
            disagree as f64,
            targeted as u8 as f64,
            restarts_seen as u8 as f64,
        ])?)
        .unwrap_or_default();
        // Ensembles: a stage's time is the slowest rank's.
        let stage_count = shard.each(stage_seconds.len() as f64)?.into_iter().fold(0f64, f64::max) as usize;
        stage_seconds.resize(stage_count, 0.0);
        for t in stage_seconds.iter_mut() {
            *t = shard.each(*t)?.into_iter().fold(0f64, f64::max);
        }
        let broken_by: Vec<Option<usize>> = if stage_count == 0 {
            Vec::new()
        } else {
            shard.sum_f64(broken_slots)?.into_iter().map(|v| (v > 0.0).then(|| v as usize - 1)).collect()
        };
        let correct = predictions.iter().zip(&self.data.labels).filter(|(p, &l)| **p == l as i64).count();
        let seconds = started.elapsed().as_secs_f64();
        let stages = stage_names.map(|names| {
            stage_results(&names, &stage_seconds, &broken_by, &correct_flags(&predictions, &self.data.labels))
        });
        Ok(AttackResult {
            attack: attack.label(),
            norm: attack.norm(),
            eps: attack.eps(),
            eps_text: eps_text.to_string(),
            robust_accuracy: correct as f64 / n.max(1) as f64,
            samples: n,
            max_perturbation: max_pert,
            target_success: (targeted > 0.0).then(|| target_hits / n.max(1) as f64),
            restart_disagreement: (restarts_seen > 0.0).then(|| disagree / n.max(1) as f64),
            stages,
            seconds,
            images_per_s: n as f64 / seconds.max(1e-9),
            predictions,
            broken_by,
        })
    }
}

/// Samples the large-budget check attacks at most.
pub const LARGE_BUDGET_SAMPLES: usize = 1000;

impl AttackSet<'_> {
    /// The large-budget check (docs/methods.md §4.3): PGD-20 at ε = 0.5 (ℓ∞, or the ℓ2 distance to mid-grey
    /// scaled to the image) on the first `samples` images must bring accuracy to about zero;
    /// otherwise the gradients are masked.
    pub fn large_budget_check(
        &self,
        norm: Norm,
        samples: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<LargeBudgetCheck> {
        use crate::attacks::Pgd;
        let classes = self.data.num_classes() as i64;
        let sub = self.data.select(&(0..samples.min(self.data.len())).collect::<Vec<_>>());
        let sub_set = AttackSet { data: &sub, ..*self };
        let eps = match norm {
            Norm::Linf => 0.5,
            Norm::L2 => 0.5 * ((self.data.channels * self.data.height * self.data.width) as f64).sqrt(),
        };
        let pgd = Pgd { alpha: eps / 8.0, norm, ..Pgd::linf(eps, eps / 8.0, 20, classes) };
        let r = sub_set.run(&pgd, &format!("{eps}"), progress)?;
        Ok(LargeBudgetCheck {
            attack: pgd.label(),
            eps,
            robust_accuracy: r.robust_accuracy,
            samples: r.samples,
            chance: 1.0 / classes as f64,
        })
    }
}

/// Predicted classes on `x`, and which rows of outputs are NaN or infinite.
fn predict_flagged(net: &Network, x: &Tensor) -> (Tensor, Vec<bool>) {
    let logits = tch::no_grad(|| net.forward(x, false));
    (logits.argmax(-1, false), super::finite::bad_rows(&logits))
}

/// Writes a batch's predictions into their samples' slots as prediction + 1 (0: another rank's
/// sample), NaN where the outputs were not numbers.
fn put_predictions(slots: &mut [f64], indices: &[usize], pred: &Tensor, bad: &[bool]) {
    let pred = Vec::<i64>::try_from(&pred.to_device(Device::Cpu)).unwrap_or_default();
    for ((&i, p), &b) in indices.iter().zip(pred).zip(bad) {
        slots[i] = if b { f64::NAN } else { p as f64 + 1.0 };
    }
}

/// Every rank's slots merged into predictions; refused when any sample's outputs were not numbers.
fn merged_predictions(slots: Vec<f64>) -> Result<Vec<i64>> {
    let merged = Shard::current().sum_f64(slots)?;
    super::finite::check(merged.iter().map(|v| v.is_nan()))?;
    Ok(merged.into_iter().map(|v| v as i64 - 1).collect())
}

/// Whether each sample is classified correctly, from predictions and labels.
pub fn correct_flags(predictions: &[i64], labels: &[u16]) -> Vec<bool> {
    predictions.iter().zip(labels).map(|(&p, &l)| p == l as i64).collect()
}
