//! PGD adversarial training (Madry et al. 2018) and fast adversarial training (Wong et al. 2020):
//! each batch is replaced by its ℓ∞ PGD examples (random start; fast-AT is one step of α = 1.25ε)
//! and the model trains on them (docs/methods.md §4.3).
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::{Method, MethodConfig, StepContext, StepOutput};
use crate::attacks::{Attack, AttackBatch, Budget, Pgd};
use crate::error::Result;
use crate::models::Network;
use crate::rng::{derive, with_torch_seed};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Whether the training-time attack runs the model in training mode (batch-norm statistics of the
/// attacked batch, as in Madry's and Wong et al.'s code) or in eval mode.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AttackMode {
    Train,
    Eval,
}

/// Adversarial training (docs/methods.md §4.3, §2.9); unset values take the method's published defaults
/// and are written out resolved in the run's config.toml.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    /// ℓ∞ budget in pixel units, a number or a fraction string such as "8/255".
    pub eps: Option<Budget>,
    /// Attack step size (pgd-at, fast-at); free-at steps by eps.
    pub alpha: Option<Budget>,
    /// PGD steps (pgd-at).
    pub steps: Option<usize>,
    /// Replays of each mini-batch (free-at's m).
    pub replays: Option<usize>,
    /// Clip the weight-gradient norm to this before each update (TENET's free-AT code uses 20).
    pub grad_clip: Option<f64>,
    /// The model's mode during the attack.
    pub attack_mode: Option<AttackMode>,
}

pub const PGD_AT: MethodInfo = MethodInfo {
    single_label: Some("its attack ascends the single-label cross-entropy"),
    section: Some(super::entry::section::<AdversarialConfig>()),
    resolve: Some(|m, _| fill_defaults(m, "8/255", "2/255", 7)),
    ..MethodInfo::new(
        "pgd-at",
        "PGD adversarial training (Madry et al. 2018): train on PGD-7 examples, ε 8/255, α 2/255",
        Build::Step(build),
    )
};

pub const FAST_AT: MethodInfo = MethodInfo {
    single_label: Some("its attack ascends the single-label cross-entropy"),
    section: Some(super::entry::section::<AdversarialConfig>()),
    resolve: Some(|m, _| fill_defaults(m, "8/255", "10/255", 1)),
    ..MethodInfo::new(
        "fast-at",
        "fast adversarial training (Wong et al. 2020): one FGSM step of α 10/255 from a random start, ε 8/255",
        Build::Step(build),
    )
};

impl Settings for AdversarialConfig {
    const KEY: &'static str = "adversarial";
    fn check(&self, c: &Composition) -> std::result::Result<(), Invalid> {
        let bad = |key, what: &str| Err(Invalid::Key(key, what.into()));
        if self.eps.as_ref().is_some_and(|e| e.value <= 0.0) {
            return bad("eps", "must be positive");
        }
        if self.alpha.as_ref().is_some_and(|e| e.value <= 0.0) {
            return bad("alpha", "must be positive");
        }
        if self.steps == Some(0) {
            return bad("steps", "must be at least 1");
        }
        if self.replays == Some(0) {
            return bad("replays", "must be at least 1");
        }
        if self.grad_clip.is_some_and(|c| c <= 0.0 || !c.is_finite()) {
            return bad("grad_clip", "must be a positive number");
        }
        let free = c.step_name() == "free-at";
        if free && (self.alpha.is_some() || self.steps.is_some() || self.attack_mode.is_some()) {
            let what = "do not apply to free-at (it steps by eps once per replay, in training mode)";
            return bad("alpha/steps/attack_mode", what);
        }
        if !free && self.replays.is_some() {
            return bad("replays", "only applies to free-at");
        }
        Ok(())
    }
}

/// A budget written as in recipes, e.g. "8/255".
pub fn budget(text: &str) -> Option<Budget> {
    Budget::parse(text, "budget").ok()
}

/// The attack-training defaults ε, α and steps, in training mode, for what the recipe left unset.
fn fill_defaults(m: &mut MethodConfig, eps: &str, alpha: &str, steps: usize) {
    let mut a: AdversarialConfig = m.get_or_default();
    a.eps = a.eps.take().or_else(|| budget(eps));
    a.alpha = a.alpha.take().or_else(|| budget(alpha));
    a.steps = a.steps.or(Some(steps));
    a.attack_mode = a.attack_mode.or(Some(AttackMode::Train));
    m.set(&a);
}

fn build(m: &MethodConfig, _: &Network, num_classes: i64) -> Result<Box<dyn Method>> {
    let a: AdversarialConfig = m.get_or_default();
    let value = |b: &Option<Budget>| b.as_ref().map_or(0.0, |b| b.value);
    Ok(Box::new(AttackTraining {
        eps: value(&a.eps),
        alpha: value(&a.alpha),
        steps: a.steps.unwrap_or(1),
        train_mode: a.attack_mode != Some(AttackMode::Eval),
        grad_clip: a.grad_clip,
        num_classes,
    }))
}

/// Seed paths of the attack's random starts and of its dropout masks.
const ATTACK_SEED: u64 = 0x4154;

pub struct AttackTraining {
    pub eps: f64,
    pub alpha: f64,
    pub steps: usize,
    pub train_mode: bool,
    pub grad_clip: Option<f64>,
    pub num_classes: i64,
}

impl Method for AttackTraining {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let pgd = Pgd { train_mode: self.train_mode, ..Pgd::linf(self.eps, self.alpha, self.steps, self.num_classes) };
        let b = AttackBatch { x, y, ids: ctx.ids, seed: derive(ctx.seed, &[ATTACK_SEED, ctx.epoch as u64]) };
        let adv = with_torch_seed(ctx.seed, &[ATTACK_SEED, ctx.step as u64], || pgd.perturb(ctx.net, &b).adv);
        let logits = ctx.forward(&adv, 0);
        let loss = ctx.cross_entropy(&logits, y);
        let value = ctx.update(&loss, "adversarial cross-entropy", self.grad_clip)?;
        ctx.after_update(&adv, y, &logits)?;
        Ok(StepOutput { loss: loss.detach(), logits: logits.detach(), terms: vec![("adv_ce".into(), value)] })
    }
}
