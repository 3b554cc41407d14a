//! The feature-space attacks on a re-ID run's queries (docs/reid.md §5), their settings and their
//! results: robust Rank-1 and mAP per attack and budget, as reid_attacks.json and reid_attacks.csv.
use super::retrieval::RetrievalResult;
use super::store::Evaluation;
use crate::error::{Error, Result};
use serde::Serialize;

/// The feature-space attacks on queries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureAttack {
    /// Iterative FGSM: steps along the sign of the gradient.
    IFgsm,
    /// Momentum iterative FGSM (Dong et al. 2018): the sign of the accumulated L1-normalised gradients.
    MiFgsm,
}

impl FeatureAttack {
    pub fn parse(s: &str) -> Option<FeatureAttack> {
        match s {
            "i-fgsm" | "ifgsm" => Some(FeatureAttack::IFgsm),
            "mi-fgsm" | "mifgsm" => Some(FeatureAttack::MiFgsm),
            _ => None,
        }
    }

    /// The name results use.
    pub fn name(self) -> &'static str {
        match self {
            FeatureAttack::IFgsm => "i-fgsm",
            FeatureAttack::MiFgsm => "mi-fgsm",
        }
    }
}

/// A feature attack's settings: budget, step, iterations (ℓ∞, pixels in [0, 1]) and momentum.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FeatureAttackSpec {
    pub attack: FeatureAttack,
    pub eps: f64,
    pub step: f64,
    pub iters: usize,
    pub momentum: f64,
    /// Seed of the random start.
    pub seed: u64,
}

/// Each attack of `attacks` (i-fgsm, mi-fgsm) at each ℓ∞ budget of `eps` (pixel units), with the
/// budget's text; `keys` name the option or config key of the attacks, budgets and step in errors.
pub fn feature_attack_specs(
    attacks: &[String],
    eps: &[String],
    step: &str,
    iters: usize,
    momentum: f64,
    seed: u64,
    keys: [&str; 3],
) -> Result<Vec<(FeatureAttackSpec, String)>> {
    let step_value = crate::attacks::parse_budget(step, keys[2])?;
    if step_value <= 0.0 || iters == 0 {
        return Err(Error::Config(format!(
            "{} {step}, {iters} iterations: the attack needs a positive step and at least one iteration",
            keys[2]
        )));
    }
    if !(momentum.is_finite() && momentum >= 0.0) {
        return Err(Error::Config(format!("momentum {momentum}: expected a non-negative number")));
    }
    let mut budgets = Vec::with_capacity(eps.len());
    for text in eps {
        let value = crate::attacks::parse_budget(text, keys[1])?;
        crate::attacks::check_linf_budget(value, keys[1], text.trim())?;
        budgets.push((value, text.trim().to_string()));
    }
    crate::attacks::check_distinct_budgets(&budgets, keys[1])?;
    let mut specs = Vec::with_capacity(attacks.len() * eps.len());
    for (i, name) in attacks.iter().enumerate() {
        let attack = FeatureAttack::parse(name.trim())
            .ok_or_else(|| Error::Config(format!("{} {}: expected i-fgsm or mi-fgsm", keys[0], name.trim())))?;
        if attacks[..i].iter().any(|n| FeatureAttack::parse(n.trim()) == Some(attack)) {
            return Err(Error::Config(format!("{} lists {} twice", keys[0], name.trim())));
        }
        for (value, text) in &budgets {
            let spec = FeatureAttackSpec { attack, eps: *value, step: step_value, iters, momentum, seed };
            specs.push((spec, text.clone()));
        }
    }
    Ok(specs)
}

/// One attack at one budget.
#[derive(Clone, Debug, Serialize)]
pub struct ReidAttackResult {
    #[serde(flatten)]
    pub spec: FeatureAttackSpec,
    /// The budget as given, e.g. "5/255".
    pub eps_text: String,
    /// Retrieval of the attacked queries against the clean gallery.
    pub attacked: RetrievalResult,
    /// Mean cosine similarity of each attacked query's feature to its clean one.
    pub mean_similarity_to_clean: f64,
    pub max_perturbation: f64,
}

/// Every feature attack run on one set of queries, with their clean retrieval.
#[derive(Clone, Debug, Serialize)]
pub struct ReidAttackReport {
    pub queries: usize,
    pub clean: RetrievalResult,
    pub results: Vec<ReidAttackResult>,
}

impl ReidAttackReport {
    /// One row per attack and budget after the clean row: Rank-1/5/10 and mAP in [0, 1].
    pub fn csv(&self) -> String {
        let mut s = String::from("attack,eps,step,iters,rank1,rank5,rank10,map,similarity_to_clean,max_perturbation\n");
        let row = |r: &RetrievalResult| format!("{:.6},{:.6},{:.6},{:.6}", r.rank1, r.rank5, r.rank10, r.map);
        s += &format!("clean,0,0,0,{},1,0\n", row(&self.clean));
        for x in &self.results {
            s += &format!(
                "{},{},{:.6},{},{},{:.6},{:.6}\n",
                x.spec.attack.name(),
                x.eps_text,
                x.spec.step,
                x.spec.iters,
                row(&x.attacked),
                x.mean_similarity_to_clean,
                x.max_perturbation
            );
        }
        s
    }

    /// reid_attacks.json and reid_attacks.csv, to keep under `protocol`.
    pub fn evaluation(&self, protocol: serde_json::Value) -> Evaluation<'static> {
        Evaluation {
            kind: "reid-attacks",
            protocol,
            samples: self.queries,
            files: vec![
                ("reid_attacks.json", serde_json::to_string_pretty(self).unwrap_or_default()),
                ("reid_attacks.csv", self.csv()),
            ],
        }
    }
}
