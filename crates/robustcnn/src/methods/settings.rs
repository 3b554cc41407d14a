//! Checking a recipe's `[method]`: the composition's name and each method's settings, one clear
//! error per problem naming the key.
use super::adversarial::AdversarialConfig;
use super::augmix::AugMixConfig;
use super::dropout::DropoutConfig;
use super::fma::FmaConfig;
use super::lfm::LfmConfig;
use super::stability::StConfig;
use super::tenet::TenetConfig;
use super::{parts, step_name, uses, MethodInfo};
use crate::data::augment_settings::{CaConfig, CutoutConfig, ErasingConfig};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The training method: what one training step does.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MethodConfig {
    /// A step method's name (`robustcnn methods` lists them): baseline, pgd-at, fast-at or free-at.
    pub name: String,
    /// Settings of the adversarial-training methods; defaults depend on the method.
    #[serde(skip_serializing_if = "AdversarialConfig::is_unset")]
    pub adversarial: AdversarialConfig,
    /// Settings of LFM (local feature masking, docs/methods.md §1); filled with the defaults for `lfm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfm: Option<LfmConfig>,
    /// Settings of TENET (group-wise inhibition, docs/methods.md §2); filled with the defaults for `tenet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenet: Option<TenetConfig>,
    /// Settings of AugMix (docs/methods.md §4.2); filled with the defaults for `augmix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augmix: Option<AugMixConfig>,
    /// Settings of Cutout (DeVries & Taylor 2017); filled with the defaults for `cutout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutout: Option<CutoutConfig>,
    /// Settings of Random Erasing (Zhong et al. 2020); filled with the defaults for `random-erasing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_erasing: Option<ErasingConfig>,
    /// Settings of CA, combined augmentations (docs/methods.md §3.4); filled with the defaults for `ca`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaConfig>,
    /// Settings of stability training (docs/methods.md §3.2); filled with the defaults for `st`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub st: Option<StConfig>,
    /// Settings of the FMA loss (docs/methods.md §3.3); filled with the defaults for `fma`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fma: Option<FmaConfig>,
    /// Settings of dropout as a method; filled with the defaults for `dropout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<DropoutConfig>,
}

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig {
            name: "baseline".into(),
            adversarial: AdversarialConfig::default(),
            lfm: None,
            tenet: None,
            augmix: None,
            cutout: None,
            random_erasing: None,
            ca: None,
            st: None,
            fma: None,
            dropout: None,
        }
    }
}

const AREA: &str = "must be [low, high] with 0 < low <= high < 1";
const ASPECT: &str = "must be [low, high] with 0 < low <= high";

/// A Random-Erasing area range: 0 < low ≤ high < 1.
fn area_ok([low, high]: [f64; 2]) -> bool {
    low > 0.0 && low <= high && high < 1.0
}

/// A Random-Erasing aspect range: 0 < low ≤ high, finite.
fn aspect_ok([low, high]: [f64; 2]) -> bool {
    low > 0.0 && low <= high && high.is_finite()
}

/// A loss weight or standard deviation: non-negative and finite.
fn weight(v: f64) -> bool {
    v >= 0.0 && v.is_finite()
}

/// Checks the method's name and settings; `origin` names the recipe in errors.
pub fn validate(m: &MethodConfig, origin: &str) -> Result<()> {
    let parts = parts(&m.name)?;
    let step = step_name(&parts);
    let a = &m.adversarial;
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: method.adversarial.{key} {what}")));
    if !matches!(step, "pgd-at" | "fast-at" | "free-at") && *a != Default::default() {
        return bad("*", "is only used by pgd-at, fast-at and free-at");
    }
    if a.eps.as_ref().is_some_and(|e| e.value <= 0.0) {
        return bad("eps", "must be positive");
    }
    if a.alpha.as_ref().is_some_and(|e| e.value <= 0.0) {
        return bad("alpha", "must be positive");
    }
    if a.steps == Some(0) {
        return bad("steps", "must be at least 1");
    }
    if a.replays == Some(0) {
        return bad("replays", "must be at least 1");
    }
    if a.grad_clip.is_some_and(|c| c <= 0.0 || !c.is_finite()) {
        return bad("grad_clip", "must be a positive number");
    }
    if step == "free-at" && (a.alpha.is_some() || a.steps.is_some() || a.attack_mode.is_some()) {
        return bad(
            "alpha/steps/attack_mode",
            "do not apply to free-at (it steps by eps once per replay, in training mode)",
        );
    }
    if step != "free-at" && a.replays.is_some() {
        return bad("replays", "only applies to free-at");
    }
    if let Some(l) = &m.lfm {
        validate_lfm(l, uses(&parts, "lfm"), origin)?;
    }
    if let Some(t) = &m.tenet {
        validate_tenet(t, uses(&parts, "tenet"), origin)?;
    }
    validate_augment(m, &parts, origin)
}

/// The loader-side methods' settings: AugMix, Cutout, Random Erasing.
fn validate_augment(m: &MethodConfig, parts: &[&'static MethodInfo], origin: &str) -> Result<()> {
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: method.{key} {what}")));
    let fraction = |v: f64| (0.0..=1.0).contains(&v);
    if uses(parts, "ca") && uses(parts, "augmix") {
        return Err(Error::Config(format!(
            "{origin}: method '{}': ca and augmix cannot be combined (each makes the training image)",
            m.name
        )));
    }
    if let Some(a) = &m.augmix {
        if !uses(parts, "augmix") {
            return bad("augmix.*", "is only used by the augmix method");
        }
        if !(0.1..=10.0).contains(&a.severity) {
            return bad("augmix.severity", "must be in [0.1, 10]");
        }
        if a.width == 0 {
            return bad("augmix.width", "must be at least 1");
        }
        if !(a.alpha > 0.0 && a.alpha.is_finite()) {
            return bad("augmix.alpha", "must be a positive number");
        }
        if !(a.lambda >= 0.0 && a.lambda.is_finite()) {
            return bad("augmix.lambda", "must be a non-negative number");
        }
        if a.jsd == Some(true) && step_name(parts) != "baseline" {
            return bad(
                "augmix.jsd",
                &format!("needs the plain training step; {} owns the step (set jsd = false)", step_name(parts)),
            );
        }
    }
    if let Some(c) = &m.cutout {
        if !uses(parts, "cutout") {
            return bad("cutout.*", "is only used by the cutout method");
        }
        if c.size == 0 {
            return bad("cutout.size", "must be at least 1 pixel");
        }
        if !fraction(c.probability) {
            return bad("cutout.probability", "must be in [0, 1]");
        }
    }
    if let Some(c) = &m.ca {
        if !uses(parts, "ca") {
            return bad("ca.*", "is only used by the ca method (alone, st+ca or fma+ca)");
        }
        if let Err(e) = corrupt::select(&c.augmentations.join(",")) {
            return bad("ca.augmentations", &e.to_string());
        }
        let [lo, hi] = c.severities;
        if !(1 <= lo && lo <= hi && hi <= 5) {
            return bad("ca.severities", "must be [low, high] with 1 <= low <= high <= 5");
        }
        if !fraction(c.clean_fraction) {
            return bad("ca.clean_fraction", "must be in [0, 1]");
        }
    }
    if let Some(s) = &m.st {
        if !uses(parts, "st") {
            return bad("st.*", "is only used by the st method");
        }
        if !weight(s.alpha) || !weight(s.sigma) {
            return bad("st.alpha/sigma", "must be non-negative numbers");
        }
    }
    if let Some(f) = &m.fma {
        if !uses(parts, "fma") {
            return bad("fma.*", "is only used by the fma method");
        }
        if !weight(f.weight) || !weight(f.sigma) {
            return bad("fma.weight/sigma", "must be non-negative numbers");
        }
        if f.stages.as_ref().is_some_and(|s| s.is_empty()) {
            return bad("fma.stages", "must name at least one stage (leave it out for every convolutional stage)");
        }
    }
    if let Some(d) = &m.dropout {
        if !uses(parts, "dropout") {
            return bad("dropout.*", "is only used by the dropout method");
        }
        if !(0.0..1.0).contains(&d.probability) {
            return bad("dropout.probability", "must be in [0, 1)");
        }
    }
    if let Some(e) = &m.random_erasing {
        if !uses(parts, "random-erasing") {
            return bad("random_erasing.*", "is only used by the random-erasing method");
        }
        if !fraction(e.probability) {
            return bad("random_erasing.probability", "must be in [0, 1]");
        }
        if !area_ok(e.area) {
            return bad("random_erasing.area", AREA);
        }
        if !aspect_ok(e.aspect) {
            return bad("random_erasing.aspect", ASPECT);
        }
    }
    Ok(())
}

fn validate_lfm(l: &LfmConfig, used: bool, origin: &str) -> Result<()> {
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: method.lfm.{key} {what}")));
    if !used {
        return bad("*", "is only used by the lfm method");
    }
    if !(0.0..=1.0).contains(&l.probability) {
        return bad("probability", "must be in [0, 1]");
    }
    if l.channels == 0 {
        return bad("channels", "must be at least 1");
    }
    if l.max_samples == Some(0) {
        return bad("max_samples", "must be at least 1 (leave it out to mask any sample)");
    }
    if !area_ok(l.area) {
        return bad("area", AREA);
    }
    if !aspect_ok(l.aspect) {
        return bad("aspect", ASPECT);
    }
    if l.stage == "head" {
        return bad("stage", "must be a convolutional stage, not the head");
    }
    Ok(())
}

fn validate_tenet(t: &TenetConfig, used: bool, origin: &str) -> Result<()> {
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: method.tenet.{key} {what}")));
    if !used {
        return bad("*", "is only used by the tenet method (alone or combined, e.g. free-at+tenet)");
    }
    if t.groups < 2 {
        return bad("groups", "must be at least 2");
    }
    if t.every == 0 {
        return bad("every", "must be at least 1 (1 = every step)");
    }
    if !weight(t.lambda_tenet) {
        return bad("lambda_tenet", "must be a non-negative number");
    }
    if !weight(t.lambda_orth) {
        return bad("lambda_orth", "must be a non-negative number");
    }
    if t.kmeans_iters == 0 {
        return bad("kmeans_iters", "must be at least 1");
    }
    if !weight(t.kmeans_tol) {
        return bad("kmeans_tol", "must be a non-negative number");
    }
    if !(t.std_eps > 0.0 && t.std_eps.is_finite()) {
        return bad("std_eps", "must be a positive number");
    }
    if t.stage.as_deref() == Some("head") {
        return bad("stage", "must be a convolutional stage, not the head");
    }
    Ok(())
}
