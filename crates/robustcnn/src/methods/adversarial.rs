//! PGD adversarial training (Madry et al. 2018) and fast adversarial training (Wong et al. 2020):
//! each batch is replaced by its ℓ∞ PGD examples (random start; fast-AT is one step of α = 1.25ε)
//! and the model trains on them (docs/methods.md §4.3).
use super::{Method, StepContext, StepOutput};
use crate::attacks::{Attack, AttackBatch, Budget, LossKind, Norm, Pgd, Target};
use crate::error::Result;
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

impl AdversarialConfig {
    /// True when nothing is set (methods other than the adversarial ones).
    pub fn is_unset(&self) -> bool {
        *self == AdversarialConfig::default()
    }
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
        let pgd = Pgd {
            eps: self.eps,
            alpha: self.alpha,
            steps: self.steps,
            norm: Norm::Linf,
            random_start: true,
            restarts: 1,
            loss: LossKind::Ce,
            target: Target::Untargeted,
            num_classes: self.num_classes,
            train_mode: self.train_mode,
        };
        let b = AttackBatch { x, y, ids: ctx.ids, seed: derive(ctx.seed, &[ATTACK_SEED, ctx.epoch as u64]) };
        let adv = with_torch_seed(ctx.seed, &[ATTACK_SEED, ctx.step as u64], || pgd.perturb(ctx.net, &b).adv);
        let logits = ctx.forward(&adv, 0);
        let loss = ctx.cross_entropy(&logits, y);
        let value = ctx.update(&loss, "adversarial cross-entropy", self.grad_clip)?;
        ctx.after_update(&adv, y, &logits)?;
        Ok(StepOutput { loss: loss.detach(), logits: logits.detach(), terms: vec![("adv_ce".into(), value)] })
    }
}
