//! Training methods: each owns one training step — its forward passes, losses and updates — and
//! reports its loss terms by name (DESIGN.md "Methods and attacks"). Adding a method touches no other
//! method and not the loop.
mod adversarial;
mod baseline;
mod free_at;
pub mod lfm;

use crate::attacks::Budget;
use crate::config::{AttackMode, MethodConfig};
use crate::error::{Error, Result};
use crate::models::Network;
use crate::rng::with_torch_seed;
use crate::train::optim::Optimizer;
use std::collections::HashMap;
use tch::{Reduction, Tensor};

/// Seed path of the dropout masks of a step's forward passes.
const DROPOUT_SEED: u64 = 3;

/// A method in the registry.
pub struct MethodInfo {
    pub name: &'static str,
    pub summary: &'static str,
}

/// Every method, by name.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo { name: "baseline", summary: "cross-entropy on the (augmented) training images" },
    MethodInfo {
        name: "lfm",
        summary: "local feature masking (Gong et al. 2024): regions of random channels of the stem's output masked, p 0.15, 32 channels",
    },
    MethodInfo {
        name: "pgd-at",
        summary: "PGD adversarial training (Madry et al. 2018): train on PGD-7 examples, ε 8/255, α 2/255",
    },
    MethodInfo {
        name: "fast-at",
        summary: "fast adversarial training (Wong et al. 2020): one FGSM step of α 10/255 from a random start, ε 8/255",
    },
    MethodInfo {
        name: "free-at",
        summary: "free adversarial training (Shafahi et al. 2019): each batch replayed m = 8 times, perturbation carried over",
    },
];

/// What a training step reports.
pub struct StepOutput {
    /// The training loss (a detached scalar) shown in the progress bar and logged as `loss`.
    pub loss: Tensor,
    /// Logits of the images trained on, for the running training accuracy.
    pub logits: Tensor,
    /// Each loss term by name, for metrics.jsonl.
    pub terms: Vec<(String, f64)>,
}

/// What a method's step works with.
pub struct StepContext<'a> {
    pub net: &'a Network,
    pub opt: &'a mut Optimizer,
    pub lr: f64,
    /// Global step (batches done before this one).
    pub step: usize,
    pub epoch: usize,
    pub seed: u64,
    pub label_smoothing: f64,
    /// Dataset indices of the batch's samples (per-sample random draws derive from them).
    pub ids: &'a [u64],
}

impl StepContext<'_> {
    /// A training-mode forward pass; dropout masks are seeded by (seed, step, pass).
    pub fn forward(&self, x: &Tensor, pass: u64) -> Tensor {
        let path: &[u64] =
            if pass == 0 { &[DROPOUT_SEED, self.step as u64] } else { &[DROPOUT_SEED, self.step as u64, pass] };
        with_torch_seed(self.seed, path, || self.net.forward(x, true))
    }

    /// The training-mode feature map after stage `stage` (dropout seeded as in [`Self::forward`]).
    pub fn forward_to(&self, x: &Tensor, stage: usize) -> Tensor {
        with_torch_seed(self.seed, &[DROPOUT_SEED, self.step as u64, 1000], || self.net.forward_to(x, stage, true))
    }

    /// Training-mode logits from a feature map after stage `stage`.
    pub fn forward_from(&self, feat: &Tensor, stage: usize) -> Tensor {
        with_torch_seed(self.seed, &[DROPOUT_SEED, self.step as u64, 1001], || self.net.forward_from(feat, stage, true))
    }

    /// Mean cross-entropy with the recipe's label smoothing.
    pub fn cross_entropy(&self, logits: &Tensor, y: &Tensor) -> Tensor {
        logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, self.label_smoothing)
    }

    /// Checks the loss is finite, then backward, optional gradient clipping, and one optimizer step.
    /// A NaN or infinite loss is reported by `term` before any weight changes.
    pub fn update(&mut self, loss: &Tensor, term: &str, grad_clip: Option<f64>) -> Result<f64> {
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return Err(Error::Diverged(format!("the {term} loss became {value}")));
        }
        self.opt.zero_grad();
        loss.backward();
        if let Some(max) = grad_clip {
            self.opt.clip_grad_norm(max);
        }
        self.opt.step(self.lr);
        Ok(value)
    }
}

/// One training method.
pub trait Method {
    /// One training step on the batch (x in [0,1], labels y).
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput>;
    /// Tensors the method carries between steps, saved in checkpoints so a resumed run continues exactly.
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Restores what [`Method::state`] saved.
    fn load_state(&mut self, _tensors: &HashMap<String, Tensor>) {}
}

fn find(name: &str) -> Result<&'static MethodInfo> {
    METHODS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        Error::Config(format!("unknown method '{name}' (methods: {})", names.join(", ")))
    })
}

/// Checks the method's name and settings; `origin` names the recipe in errors.
pub fn validate(m: &MethodConfig, origin: &str) -> Result<()> {
    find(&m.name)?;
    let a = &m.adversarial;
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: method.adversarial.{key} {what}")));
    if m.name == "baseline" && *a != Default::default() {
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
    if m.name == "free-at" && (a.alpha.is_some() || a.steps.is_some() || a.attack_mode.is_some()) {
        return bad(
            "alpha/steps/attack_mode",
            "do not apply to free-at (it steps by eps once per replay, in training mode)",
        );
    }
    if m.name != "free-at" && a.replays.is_some() {
        return bad("replays", "only applies to free-at");
    }
    if let Some(l) = &m.lfm {
        validate_lfm(l, &m.name, origin)?;
    }
    Ok(())
}

fn validate_lfm(l: &crate::config::LfmConfig, method: &str, origin: &str) -> Result<()> {
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: method.lfm.{key} {what}")));
    if method != "lfm" {
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
    if !(l.area[0] > 0.0 && l.area[0] <= l.area[1] && l.area[1] < 1.0) {
        return bad("area", "must be [low, high] with 0 < low <= high < 1");
    }
    if !(l.aspect[0] > 0.0 && l.aspect[0] <= l.aspect[1] && l.aspect[1].is_finite()) {
        return bad("aspect", "must be [low, high] with 0 < low <= high");
    }
    if l.stage == "head" {
        return bad("stage", "must be a convolutional stage, not the head");
    }
    Ok(())
}

fn budget(text: &str) -> Option<Budget> {
    Budget::parse(text, "budget").ok()
}

/// Fills in the method's published defaults for what the recipe left unset (written to config.toml).
pub fn resolve(m: &mut MethodConfig) {
    let a = &mut m.adversarial;
    match m.name.as_str() {
        "pgd-at" => {
            a.eps = a.eps.take().or_else(|| budget("8/255"));
            a.alpha = a.alpha.take().or_else(|| budget("2/255"));
            a.steps = a.steps.or(Some(7));
            a.attack_mode = a.attack_mode.or(Some(AttackMode::Train));
        }
        "fast-at" => {
            a.eps = a.eps.take().or_else(|| budget("8/255"));
            a.alpha = a.alpha.take().or_else(|| budget("10/255"));
            a.steps = a.steps.or(Some(1));
            a.attack_mode = a.attack_mode.or(Some(AttackMode::Train));
        }
        "free-at" => {
            a.eps = a.eps.take().or_else(|| budget("8/255"));
            a.replays = a.replays.or(Some(8));
        }
        "lfm" => {
            m.lfm.get_or_insert_with(Default::default);
        }
        _ => {}
    }
}

/// Builds the method of a resolved config for `net` with `num_classes` outputs.
pub fn build(m: &MethodConfig, net: &Network, num_classes: i64) -> Result<Box<dyn Method>> {
    let a = &m.adversarial;
    let value = |b: &Option<Budget>| b.as_ref().map_or(0.0, |b| b.value);
    Ok(match find(&m.name)?.name {
        "pgd-at" | "fast-at" => Box::new(adversarial::AttackTraining {
            eps: value(&a.eps),
            alpha: value(&a.alpha),
            steps: a.steps.unwrap_or(1),
            train_mode: a.attack_mode != Some(AttackMode::Eval),
            grad_clip: a.grad_clip,
            num_classes,
        }),
        "free-at" => Box::new(free_at::FreeAt::new(value(&a.eps), a.replays.unwrap_or(8), a.grad_clip)),
        "lfm" => {
            let cfg = m.lfm.clone().unwrap_or_default();
            let stage = net.stage_index(&cfg.stage).map_err(|e| Error::Config(format!("method.lfm.stage: {e}")))?;
            if stage + 1 >= net.stages().len() {
                return Err(Error::Config(format!(
                    "method.lfm.stage {}: must be a convolutional stage, not the head",
                    cfg.stage
                )));
            }
            Box::new(lfm::Lfm { cfg, stage })
        }
        _ => Box::new(baseline::Baseline),
    })
}
