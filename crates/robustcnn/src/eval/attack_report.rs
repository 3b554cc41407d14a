//! The attack evaluation's report: robust accuracy per attack and budget, the worst case over the
//! attacks, the gradient-masking checks (printed as warnings), per-sample outcomes, CSV and a plot.
pub use super::attacks::LargeBudgetCheck;
use super::attacks::{correct_flags, AttackResult};
use crate::attacks::Norm;
use serde::Serialize;
use serde_json::json;

/// Accuracy rises with ε by more than this before it is flagged (random starts move a few samples).
pub const RISE_TOLERANCE: f64 = 0.005;
/// Restarts that disagree on more than this fraction of samples are flagged.
pub const RESTART_TOLERANCE: f64 = 0.10;

/// Robust accuracy at one budget when every attack run at that budget counts: a sample survives only
/// if no attack fooled it.
#[derive(Clone, Debug, Serialize)]
pub struct WorstCase {
    pub eps: f64,
    pub eps_text: String,
    pub robust_accuracy: f64,
    pub samples: usize,
    pub attacks: Vec<String>,
}

/// Everything `eval attack` writes to results/attacks.json.
#[derive(Clone, Debug, Serialize)]
pub struct AttackReport {
    pub weights: String,
    pub samples: usize,
    pub seed: u64,
    pub clean_accuracy: f64,
    pub results: Vec<AttackResult>,
    pub worst_case: Vec<WorstCase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_budget_check: Option<LargeBudgetCheck>,
    /// Signs of gradient masking or a broken attack (Carlini et al. 2019 checklist); empty is good.
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub labels: Vec<u16>,
    #[serde(skip)]
    pub clean_predictions: Vec<i64>,
}

impl AttackReport {
    /// Assembles the report: worst cases per budget and the warnings.
    pub fn new(
        weights: String,
        seed: u64,
        labels: Vec<u16>,
        clean_predictions: Vec<i64>,
        results: Vec<AttackResult>,
        large_budget_check: Option<LargeBudgetCheck>,
    ) -> AttackReport {
        let samples = labels.len();
        let clean = correct_flags(&clean_predictions, &labels).iter().filter(|&&c| c).count();
        let mut r = AttackReport {
            weights,
            samples,
            seed,
            clean_accuracy: clean as f64 / samples.max(1) as f64,
            worst_case: Vec::new(),
            warnings: Vec::new(),
            results,
            large_budget_check,
            labels,
            clean_predictions,
        };
        r.worst_case = r.worst_cases();
        r.warnings = r.checks();
        r
    }

    /// attacks.json, the per-sample attack_samples.json, attacks.csv and attacks.svg, to keep under `protocol`.
    pub fn evaluation(&self, protocol: serde_json::Value) -> super::store::Evaluation<'static> {
        super::store::Evaluation {
            kind: "attacks",
            protocol,
            samples: self.samples,
            files: vec![
                ("attacks.json", serde_json::to_string_pretty(self).unwrap_or_default()),
                ("attack_samples.json", serde_json::to_string(&self.samples_json()).unwrap_or_default()),
                ("attacks.csv", self.csv()),
                ("attacks.svg", self.plot_svg()),
            ],
        }
    }

    /// The attacks run, in the order they were run.
    pub fn attack_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.results {
            if !names.contains(&r.attack.as_str()) {
                names.push(&r.attack);
            }
        }
        names
    }

    fn budgets(&self) -> Vec<(f64, String)> {
        let mut b: Vec<(f64, String)> = Vec::new();
        for res in &self.results {
            if !b.iter().any(|(e, _)| *e == res.eps) {
                b.push((res.eps, res.eps_text.clone()));
            }
        }
        b.sort_by(|a, c| a.0.total_cmp(&c.0));
        b
    }

    fn worst_cases(&self) -> Vec<WorstCase> {
        self.budgets()
            .into_iter()
            .map(|(eps, eps_text)| {
                let at: Vec<&AttackResult> = self.results.iter().filter(|r| r.eps == eps).collect();
                let survived = (0..self.samples)
                    .filter(|&i| {
                        self.clean_predictions[i] == self.labels[i] as i64
                            && at.iter().all(|r| r.predictions[i] == self.labels[i] as i64)
                    })
                    .count();
                WorstCase {
                    eps,
                    eps_text,
                    robust_accuracy: survived as f64 / self.samples.max(1) as f64,
                    samples: self.samples,
                    attacks: at.iter().map(|r| r.attack.clone()).collect(),
                }
            })
            .collect()
    }

    /// The gradient-masking checks of the issue and of Carlini et al. (2019), as sentences.
    fn checks(&self) -> Vec<String> {
        let mut w = Vec::new();
        let pct = |v: f64| format!("{:.2}%", 100.0 * v);
        for pgd in self.results.iter().filter(|r| r.attack.starts_with("PGD") && r.norm == Norm::Linf) {
            if let Some(f) = self.results.iter().find(|r| r.attack == "FGSM" && r.eps == pgd.eps) {
                if pgd.robust_accuracy > f.robust_accuracy {
                    w.push(format!(
                        "{} accuracy {} is above FGSM's {} at ε={}: an iterative attack should be at least as strong as one step; suspect gradient masking or too small a step size",
                        pgd.attack, pct(pgd.robust_accuracy), pct(f.robust_accuracy), pgd.eps_text
                    ));
                }
            }
        }
        for name in self.attack_names() {
            let mut rs: Vec<&AttackResult> = self.results.iter().filter(|r| r.attack == name).collect();
            rs.sort_by(|a, b| a.eps.total_cmp(&b.eps));
            for pair in rs.windows(2) {
                if pair[1].robust_accuracy > pair[0].robust_accuracy + RISE_TOLERANCE {
                    w.push(format!(
                        "{name} accuracy rises with ε: {} at ε={} but {} at ε={}; a larger budget can only help the attacker, so the attack is not finding its optimum",
                        pct(pair[0].robust_accuracy), pair[0].eps_text, pct(pair[1].robust_accuracy), pair[1].eps_text
                    ));
                }
            }
        }
        if let Some(c) = &self.large_budget_check {
            if c.robust_accuracy > c.chance {
                w.push(format!(
                    "{} at the very large ε={} leaves {} accuracy, above chance ({}): an unbounded attack should reach every point; suspect gradient masking",
                    c.attack, c.eps, pct(c.robust_accuracy), pct(c.chance)
                ));
            }
        }
        for r in &self.results {
            if let Some(d) = r.restart_disagreement.filter(|&d| d > RESTART_TOLERANCE) {
                w.push(format!(
                    "{} at ε={}: its random restarts disagree on {} of the samples; the loss surface is noisy (gradient masking or a randomized model); use more restarts",
                    r.attack, r.eps_text, pct(d)
                ));
            }
        }
        w
    }

    /// One row per attack and budget.
    pub fn csv(&self) -> String {
        let mut s = String::from("attack,norm,eps,eps_text,robust_accuracy,samples,max_perturbation,target_success,restart_disagreement,seconds\n");
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        for r in &self.results {
            s += &format!(
                "{},{},{:.8},{},{:.6},{},{:.8},{},{},{:.2}\n",
                r.attack,
                if r.norm == Norm::Linf { "linf" } else { "l2" },
                r.eps,
                r.eps_text,
                r.robust_accuracy,
                r.samples,
                r.max_perturbation,
                opt(r.target_success),
                opt(r.restart_disagreement),
                r.seconds
            );
        }
        for c in &self.worst_case {
            s += &format!("worst case,,{:.8},{},{:.6},{},,,,\n", c.eps, c.eps_text, c.robust_accuracy, self.samples);
        }
        s
    }

    /// Per-sample outcomes: labels, clean predictions, and each attack's predictions and correctness.
    pub fn samples_json(&self) -> serde_json::Value {
        let attacks: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|r| {
                let correct: Vec<u8> = correct_flags(&r.predictions, &self.labels).iter().map(|&c| c as u8).collect();
                let mut v = json!({"attack": r.attack, "eps": r.eps, "eps_text": r.eps_text, "prediction": r.predictions, "correct": correct});
                if let Some(stages) = &r.stages {
                    let names: Vec<Option<&str>> =
                        r.broken_by.iter().map(|b| b.map(|i| stages[i].attack.as_str())).collect();
                    v["broken_by"] = json!(names);
                }
                v
            })
            .collect();
        json!({"samples": self.samples, "labels": self.labels, "clean_prediction": self.clean_predictions, "attacks": attacks})
    }

    /// Robust accuracy against ε, one line per attack, from the clean accuracy at ε = 0.
    pub fn plot_svg(&self) -> String {
        use super::plot::{Chart, Series};
        const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
        let linf = self.results.iter().all(|r| r.norm == Norm::Linf);
        let unit = if linf { 255.0 } else { 1.0 };
        let names = self.attack_names();
        let start = (0.0, 100.0 * self.clean_accuracy);
        let mut series: Vec<Series> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut pts = vec![start];
                let mut rs: Vec<&AttackResult> = self.results.iter().filter(|r| r.attack == *name).collect();
                rs.sort_by(|a, b| a.eps.total_cmp(&b.eps));
                pts.extend(rs.iter().map(|r| (r.eps * unit, 100.0 * r.robust_accuracy)));
                Series {
                    label: name.to_string(),
                    colour: COLOURS[i % COLOURS.len()].into(),
                    dashed: false,
                    points: pts,
                }
            })
            .collect();
        if names.len() > 1 {
            let mut pts = vec![start];
            pts.extend(self.worst_case.iter().map(|c| (c.eps * unit, 100.0 * c.robust_accuracy)));
            series.push(Series { label: "worst case".into(), colour: "#000".into(), dashed: true, points: pts });
        }
        let budgets = self.budgets();
        let top = budgets.last().map_or(1.0, |b| b.0 * unit).max(1e-9);
        let mut ticks = vec![(0.0, "0".to_string())];
        ticks.extend(budgets.iter().map(|(e, t)| (e * unit, t.clone())));
        Chart {
            title: "Robust accuracy against the attack budget",
            x_label: if linf { "ε (ℓ∞, pixel units of 1/255)" } else { "ε (ℓ2)" },
            y_label: "robust accuracy (%)",
            x_range: (0.0, top),
            y_range: (0.0, 100.0),
            x_ticks: ticks,
            series,
        }
        .svg()
    }
}
