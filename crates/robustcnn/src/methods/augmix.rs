//! AugMix's Jensen–Shannon consistency step (docs/methods.md §4.2): the clean image and its two AugMix views
//! go through the network in one batch; L = CE(clean) + λ·JS(p_clean, p_aug1, p_aug2).
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::{Method, MethodConfig, StepContext, StepOutput};
use crate::data::augment::{AugMixSpec, MethodAugment};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// AugMix's settings (docs/methods.md §4.2), defaults from the CIFAR code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AugMixConfig {
    /// Upper end of each operation's level U[0.1, severity] (3 on CIFAR, 1 on ImageNet).
    pub severity: f64,
    /// Augmentation chains mixed.
    pub width: usize,
    /// Operations per chain; 0 draws 1–3 per chain.
    pub depth: usize,
    /// Dirichlet and Beta concentration.
    pub alpha: f64,
    /// Add color, contrast, brightness and sharpness to the nine default operations.
    pub all_ops: bool,
    /// Jensen–Shannon consistency over the clean image and two AugMix views. Unset: on for `augmix`
    /// alone (the AugMix paper), off when combined with another method (TENET's recipe).
    pub jsd: Option<bool>,
    /// Weight of the Jensen–Shannon term (λ).
    pub lambda: f64,
    /// Each epoch holds an AugMix copy and a clean copy of the training set (TENET's recipe, docs/methods.md §2.7).
    /// Unset: off for `augmix` alone, on when combined with another method.
    pub clean_copy: Option<bool>,
}

impl Default for AugMixConfig {
    fn default() -> Self {
        AugMixConfig {
            severity: 3.0,
            width: 3,
            depth: 0,
            alpha: 1.0,
            all_ops: false,
            jsd: None,
            lambda: 12.0,
            clean_copy: None,
        }
    }
}

pub const ENTRY: MethodInfo = MethodInfo {
    single_label: Some("AugMix's Jensen–Shannon loss compares softmax distributions over one label"),
    section: Some(super::entry::section::<AugMixConfig>()),
    resolve: Some(resolve),
    ..MethodInfo::new(
        "augmix",
        "AugMix (Hendrycks et al. 2020): mixed chains of 9 Pillow operations; alone with the Jensen-Shannon loss (lambda 12), combined (tenet+augmix) as TENET's AugMix copy plus clean copy",
        Build::Data { loader, step: Some(jsd_step) },
    )
};

impl Settings for AugMixConfig {
    const KEY: &'static str = "augmix";
    fn check(&self, c: &Composition) -> std::result::Result<(), Invalid> {
        let bad = |key, what: &str| Err(Invalid::Key(key, what.into()));
        if !(0.1..=10.0).contains(&self.severity) {
            return bad("severity", "must be in [0.1, 10]");
        }
        if self.width == 0 {
            return bad("width", "must be at least 1");
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return bad("alpha", "must be a positive number");
        }
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return bad("lambda", "must be a non-negative number");
        }
        if self.jsd == Some(true) && !c.plain_step() {
            let what = format!("needs the plain training step; {} owns the step (set jsd = false)", c.step_name());
            return bad("jsd", &what);
        }
        Ok(())
    }
}

/// Alone: the AugMix paper (Jensen–Shannon). Combined with a step or TENET: TENET's recipe.
fn resolve(m: &mut MethodConfig, c: &Composition) {
    let combined = c.has_training_method();
    let mut a: AugMixConfig = m.get_or_default();
    a.jsd = a.jsd.or(Some(!combined));
    a.clean_copy = a.clean_copy.or(Some(combined));
    m.set(&a);
}

fn loader(m: &MethodConfig, _: &Composition, out: &mut MethodAugment) {
    let a: AugMixConfig = m.get_or_default();
    out.augmix = Some(AugMixSpec {
        params: corrupt::augmix::AugMixParams {
            severity: a.severity,
            width: a.width,
            depth: a.depth,
            alpha: a.alpha,
            all_ops: a.all_ops,
        },
        jsd_views: a.jsd == Some(true),
        clean_copy: a.clean_copy == Some(true),
    });
}

/// The Jensen–Shannon step, when AugMix is asked for it and no step method is named.
fn jsd_step(m: &MethodConfig) -> Option<Box<dyn Method>> {
    let a: AugMixConfig = m.get()?;
    (a.jsd == Some(true)).then(|| Box::new(AugMixJsd { lambda: a.lambda }) as Box<dyn Method>)
}

/// JS = ⅓ Σ_i KL(p_i ‖ M), M = clamp((p_0 + p_1 + p_2)/3, 1e-7, 1), each KL a batch mean, from logits.
pub fn jensen_shannon(logits: &[Tensor]) -> Tensor {
    let probs: Vec<Tensor> = logits.iter().map(|l| l.softmax(-1, Kind::Float)).collect();
    let n = logits.len() as f64;
    let mixture = (probs.iter().fold(probs[0].zeros_like(), |acc, p| acc + p) / n).clamp(1e-7, 1.0).log();
    let batch = logits[0].size()[0].max(1) as f64;
    let kl: Vec<Tensor> = logits
        .iter()
        .zip(&probs)
        .map(|(l, p)| (p * (l.log_softmax(-1, Kind::Float) - &mixture)).sum(Kind::Float) / batch)
        .collect();
    kl.iter().fold(Tensor::zeros([], (Kind::Float, logits[0].device())), |acc, k| acc + k) / n
}

pub struct AugMixJsd {
    pub lambda: f64,
}

impl Method for AugMixJsd {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        if ctx.views.len() != 2 {
            return Err(Error::Config("augmix with jsd needs the loader's two AugMix views".into()));
        }
        let n = x.size()[0];
        let all = Tensor::cat(&[x, &ctx.views[0], &ctx.views[1]], 0);
        let logits = ctx.forward(&all, 0).split(n, 0);
        let ce = ctx.cross_entropy(&logits[0], y);
        let js = jensen_shannon(&logits);
        let what = "AugMix (cross-entropy + Jensen-Shannon)";
        let (loss, terms) = ctx.update_with_term(&ce, ("jsd", &js, self.lambda), what)?;
        ctx.after_update(x, y, &logits[0])?;
        Ok(StepOutput { loss, logits: logits[0].detach(), terms })
    }
}
