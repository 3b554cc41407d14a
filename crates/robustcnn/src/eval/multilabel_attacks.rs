//! Robust mAP of a multi-label model: FGSM and PGD ascend the summed per-class binary cross-entropy,
//! and the adversarial images' scores are ranked as the clean ones are (docs/multilabel.md §4).
use super::attacks::AttackSet;
use super::multilabel::{multilabel_metrics, ApMethod};
use super::shard::Shard;
use crate::attacks::{Attack, AttackBatch, Norm, Pgd};
use crate::data::loader::{make_batch, LoaderSpec};
use crate::error::{Error, Result};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind};

/// Robust mAP rising with ε by more than this, or exceeding the clean mAP by it, is flagged.
pub const MAP_TOLERANCE: f64 = 0.01;

/// One attack at one budget.
#[derive(Clone, Debug, Serialize)]
pub struct RobustMap {
    pub attack: String,
    pub norm: Norm,
    pub eps: f64,
    pub eps_text: String,
    /// The mAP of the adversarial images (named as in single-label reports; `metric` says mAP).
    pub robust_accuracy: f64,
    pub samples: usize,
    pub max_perturbation: f64,
    pub seconds: f64,
}

/// What `eval attack` writes to results/attacks.json for a multi-label task.
#[derive(Clone, Debug, Serialize)]
pub struct MultiLabelAttackReport {
    pub weights: String,
    pub samples: usize,
    pub seed: u64,
    pub metric: &'static str,
    pub ap_method: ApMethod,
    /// Clean mAP of the attacked images.
    pub clean_accuracy: f64,
    pub results: Vec<RobustMap>,
    /// PGD-20 at ε = 0.5 on up to `samples` images, against the mAP of a ranking by chance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_budget_check: Option<LargeBudgetMap>,
    pub warnings: Vec<String>,
}

/// The large-budget check of a multi-label model: its robust mAP should fall to chance or below.
#[derive(Clone, Debug, Serialize)]
pub struct LargeBudgetMap {
    pub attack: String,
    pub eps: f64,
    pub robust_map: f64,
    pub samples: usize,
    /// Expected AP of a random ranking: each class's share of positive images, averaged.
    pub chance: f64,
}

impl AttackSet<'_> {
    /// Per-class sigmoid scores of the images `attack` makes (clean ones for None), row-major,
    /// and the largest perturbation; sharded like the single-label attacks.
    fn multilabel_scores(&self, attack: Option<&dyn Attack>, eps_text: &str) -> Result<(Vec<f32>, f64)> {
        let (n, k) = (self.data.len(), self.data.num_classes());
        let spec = LoaderSpec::evaluation(self.batch);
        let shard = Shard::current();
        let mut out = vec![0f32; n * k];
        let mut max_pert = 0f64;
        let idx: Vec<usize> = (0..n).collect();
        for (_, chunk) in idx.chunks(self.batch.max(1)).enumerate().filter(|(b, _)| shard.mine(*b)) {
            let b = make_batch(self.data, chunk, &spec, 0);
            let (x, y) = (b.images.to_device(self.device), b.labels.to_device(self.device));
            let ids: Vec<u64> = chunk.iter().map(|&i| i as u64).collect();
            let adv = match attack {
                Some(a) => a.perturb(self.net, &AttackBatch { x: &x, y: &y, ids: &ids, seed: self.seed }).adv.detach(),
                None => x.shallow_clone(),
            };
            let (scores, pert) = tch::no_grad(|| {
                let pert = (&adv - &x).abs().max().double_value(&[]);
                let logits = self.net.forward(&adv, false);
                let s = super::finite::poison_bad_rows(&logits, &logits.sigmoid());
                let s = s.to_kind(Kind::Float).to_device(Device::Cpu);
                (Vec::<f32>::try_from(&s.flatten(0, -1)).unwrap_or_default(), pert)
            });
            if let Some(a) = attack {
                if pert > a.eps() * (1.0 + 1e-5) + 1e-6 {
                    return Err(Error::Config(format!(
                        "{} at ε={eps_text} left the budget (largest perturbation {pert:.6}); this is a bug, please report it",
                        a.label()
                    )));
                }
            }
            max_pert = max_pert.max(pert);
            out[chunk[0] * k..chunk[0] * k + scores.len()].copy_from_slice(&scores);
        }
        let max_pert = shard.each(max_pert)?.into_iter().fold(0f64, f64::max);
        let merged = shard.sum_f32(out)?;
        super::finite::check_values(&merged, k)?;
        Ok((merged, max_pert))
    }

    /// mAP of the set's images as `attack` perturbs them (clean for None).
    fn map_under(&self, attack: Option<&dyn Attack>, eps_text: &str) -> Result<(f64, f64)> {
        let (scores, pert) = self.multilabel_scores(attack, eps_text)?;
        let targets = self.data.targets.as_deref().unwrap_or_default();
        Ok((multilabel_metrics(&scores, targets, &self.data.class_names, ApMethod::default()).map, pert))
    }

    /// Robust mAP under `attack` (FGSM or PGD with the multi-label loss).
    pub fn run_multilabel(&self, attack: &dyn Attack, eps_text: &str) -> Result<RobustMap> {
        let started = Instant::now();
        let (map, max_perturbation) = self.map_under(Some(attack), eps_text)?;
        Ok(RobustMap {
            attack: attack.label(),
            norm: attack.norm(),
            eps: attack.eps(),
            eps_text: eps_text.to_string(),
            robust_accuracy: map,
            samples: self.data.len(),
            max_perturbation,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Clean mAP of the set.
    pub fn clean_map(&self) -> Result<f64> {
        Ok(self.map_under(None, "0")?.0)
    }

    /// PGD-20 at ε = 0.5 (ℓ∞) on the first `samples` images, with the chance mAP to compare with.
    pub fn large_budget_map(&self, samples: usize) -> Result<LargeBudgetMap> {
        let sub = self.data.select(&(0..samples.min(self.data.len())).collect::<Vec<_>>());
        let set = AttackSet { data: &sub, ..*self };
        let pgd = Pgd::linf(0.5, 0.5 / 8.0, 20, sub.num_classes() as i64);
        let r = set.run_multilabel(&pgd, "0.5")?;
        Ok(LargeBudgetMap {
            attack: r.attack,
            eps: 0.5,
            robust_map: r.robust_accuracy,
            samples: sub.len(),
            chance: chance_map(&sub),
        })
    }
}

/// The expected AP of a random ranking: the mean, over classes with positives, of the positive
/// share among the non-difficult images.
pub fn chance_map(ds: &crate::data::Dataset) -> f64 {
    let (k, t) = (ds.num_classes(), ds.targets.as_deref().unwrap_or_default());
    let shares: Vec<f64> = (0..k)
        .filter_map(|c| {
            let col: Vec<i8> = t.iter().skip(c).step_by(k).copied().filter(|&v| v != 0).collect();
            let pos = col.iter().filter(|&&v| v > 0).count();
            (pos > 0).then(|| pos as f64 / col.len() as f64)
        })
        .collect();
    shares.iter().sum::<f64>() / shares.len().max(1) as f64
}

impl MultiLabelAttackReport {
    /// The report with its warnings: robust mAP above the clean mAP, rising with ε, or not brought
    /// to chance by the large-budget check are signs of masked gradients or a broken attack.
    pub fn new(
        weights: String,
        seed: u64,
        clean: f64,
        results: Vec<RobustMap>,
        check: Option<LargeBudgetMap>,
        samples: usize,
    ) -> Self {
        let mut warnings = Vec::new();
        for r in &results {
            if r.robust_accuracy > clean + MAP_TOLERANCE {
                warnings.push(format!(
                    "{} at ε={}: robust mAP {:.2}% above the clean {:.2}%",
                    r.attack,
                    r.eps_text,
                    100.0 * r.robust_accuracy,
                    100.0 * clean
                ));
            }
            if let Some(prev) =
                results.iter().filter(|p| p.attack == r.attack && p.eps < r.eps).max_by(|a, b| a.eps.total_cmp(&b.eps))
            {
                if r.robust_accuracy > prev.robust_accuracy + MAP_TOLERANCE {
                    warnings
                        .push(format!("{}: robust mAP rises from ε={} to ε={}", r.attack, prev.eps_text, r.eps_text));
                }
            }
        }
        if let Some(c) = check.as_ref().filter(|c| c.robust_map > c.chance + 0.05) {
            warnings.push(format!(
                "large-budget check: {} at ε=0.5 leaves mAP {:.2}%, above the {:.2}% of a random ranking: gradients may be masked",
                c.attack,
                100.0 * c.robust_map,
                100.0 * c.chance
            ));
        }
        MultiLabelAttackReport {
            weights,
            samples,
            seed,
            metric: "mAP",
            ap_method: ApMethod::default(),
            clean_accuracy: clean,
            results,
            large_budget_check: check,
            warnings,
        }
    }

    /// attacks.json and attacks.csv, to keep under `protocol`.
    pub fn evaluation(&self, protocol: serde_json::Value) -> super::store::Evaluation<'static> {
        let mut csv = String::from("attack,eps,robust_map,samples,max_perturbation\n");
        for r in &self.results {
            csv += &format!(
                "{},{},{:.6},{},{:.6}\n",
                r.attack, r.eps_text, r.robust_accuracy, r.samples, r.max_perturbation
            );
        }
        super::store::Evaluation {
            kind: "attacks",
            protocol,
            samples: self.samples,
            files: vec![("attacks.json", serde_json::to_string_pretty(self).unwrap_or_default()), ("attacks.csv", csv)],
        }
    }
}
