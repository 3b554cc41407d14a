//! Training methods: each owns one training step — its forward passes, losses and updates — and
//! reports its loss terms by name. A method's file holds its settings, their defaults and checks, and
//! its registry entry; `METHODS` lists the entries, and everything here works from them alone
//! (docs/extending.md: adding a method).
pub mod adversarial;
pub mod augmix;
mod baseline;
pub mod ca;
pub mod cutout;
pub mod dropout;
pub mod entry;
pub mod fma;
mod free_at;
pub mod lfm;
pub mod lgpr;
pub mod random_erasing;
pub mod settings;
pub mod stability;
pub mod tenet;

use crate::data::augment::MethodAugment;
use crate::error::{Error, Result};
use crate::models::Network;
use crate::rng::with_torch_seed;
use crate::train::optim::Optimizer;
pub use adversarial::AttackMode;
pub use entry::{Build, Composition, MethodInfo, Role, Settings};
pub use settings::{validate, MethodConfig};
use std::collections::HashMap;
use tch::{Reduction, Tensor};

/// Seed path of the dropout masks of a step's forward passes.
const DROPOUT_SEED: u64 = 3;

/// Every method, in the order `robustcnn methods` lists them and config.toml writes their settings.
pub const METHODS: &[&MethodInfo] = &[
    &baseline::ENTRY,
    &lfm::ENTRY,
    &adversarial::PGD_AT,
    &adversarial::FAST_AT,
    &free_at::ENTRY,
    &tenet::ENTRY,
    &augmix::ENTRY,
    &cutout::ENTRY,
    &random_erasing::ENTRY,
    &lgpr::ENTRY,
    &ca::ENTRY,
    &stability::ENTRY,
    &fma::ENTRY,
    &dropout::ENTRY,
];

/// The task's loss: cross-entropy for class labels (B), binary cross-entropy with logits per
/// class for multi-label targets (B × classes) (docs/multilabel.md §2).
pub fn task_loss(logits: &Tensor, y: &Tensor, label_smoothing: f64) -> Tensor {
    if y.dim() == 2 {
        logits.to_kind(tch::Kind::Float).binary_cross_entropy_with_logits::<Tensor>(y, None, None, Reduction::Mean)
    } else {
        logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, label_smoothing)
    }
}

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
    /// The composition's after-update method (e.g. TENET), run by [`Self::after_update`].
    pub after: Option<Box<dyn AfterUpdate>>,
    /// Loss terms the after-update method reported during this step.
    pub extra_terms: Vec<(String, f64)>,
    /// Extra views of the batch from the loader (AugMix's two views for its Jensen–Shannon loss).
    pub views: Vec<Tensor>,
}

impl<'a> StepContext<'a> {
    /// A context at step 0, seed 0, no label smoothing, no after-update method and no extra views.
    pub fn new(net: &'a Network, opt: &'a mut Optimizer, lr: f64, ids: &'a [u64]) -> StepContext<'a> {
        StepContext {
            net,
            opt,
            lr,
            step: 0,
            epoch: 0,
            seed: 0,
            label_smoothing: 0.0,
            ids,
            after: None,
            extra_terms: Vec::new(),
            views: Vec::new(),
        }
    }

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

    /// Every stage's training-mode output (the last is the logits), dropout seeded by (step, pass).
    pub fn forward_stages(&self, x: &Tensor, pass: u64) -> Vec<Tensor> {
        with_torch_seed(self.seed, &[DROPOUT_SEED, self.step as u64, 1002, pass], || self.net.stage_outputs(x, true))
    }

    /// Mean cross-entropy with the recipe's label smoothing; for multi-label targets (B × classes)
    /// the per-class binary cross-entropy with logits, averaged (docs/multilabel.md §2).
    pub fn cross_entropy(&self, logits: &Tensor, y: &Tensor) -> Tensor {
        task_loss(logits, y, self.label_smoothing)
    }

    /// Checks the loss is finite, then backward, gradient averaging over a data-parallel job's ranks,
    /// optional gradient clipping, and one optimizer step.
    /// A NaN or infinite loss is reported by `term` before any weight changes.
    pub fn update(&mut self, loss: &Tensor, term: &str, grad_clip: Option<f64>) -> Result<f64> {
        let value = loss.double_value(&[]);
        // In a data-parallel job every rank stops together when any rank's loss is not finite.
        let diverged = match self.opt.dist() {
            Some(d) => d.any(!value.is_finite())?,
            None => !value.is_finite(),
        };
        if diverged {
            let what = if value.is_finite() { "not finite on another rank".to_string() } else { value.to_string() };
            return Err(Error::Diverged(format!("the {term} loss became {what}")));
        }
        self.opt.zero_grad();
        if !self.opt.backward(loss)? {
            // fp16: the gradients overflowed; the loss scaler halved its scale and the step is skipped.
            return Ok(value);
        }
        if let Some(max) = grad_clip {
            self.opt.clip_grad_norm(max);
        }
        self.opt.step(self.lr);
        Ok(value)
    }

    /// One update on CE + weight·term (the consistency losses of AugMix, ST and FMA); returns the
    /// detached total and the logged terms `loss_total`, `ce` and `name`. `what` names the loss in errors.
    pub fn update_with_term(
        &mut self,
        ce: &Tensor,
        (name, term, weight): (&str, &Tensor, f64),
        what: &str,
    ) -> Result<(Tensor, Vec<(String, f64)>)> {
        let loss = ce + term * weight;
        let value = self.update(&loss, what, None)?;
        let terms = vec![
            ("loss_total".into(), value),
            ("ce".into(), ce.double_value(&[])),
            (name.to_string(), term.double_value(&[])),
        ];
        Ok((loss.detach(), terms))
    }

    /// Runs the composition's after-update method (if any) on the images `x` just trained on and the
    /// logits computed before the update; step methods call it after each of their updates.
    pub fn after_update(&mut self, x: &Tensor, y: &Tensor, logits: &Tensor) -> Result<()> {
        let Some(mut after) = self.after.take() else { return Ok(()) };
        let terms = after.after_update(self, x, y, logits);
        self.after = Some(after);
        for (name, value) in terms? {
            match self.extra_terms.iter_mut().find(|t| t.0 == name) {
                Some(t) => t.1 = value,
                None => self.extra_terms.push((name, value)),
            }
        }
        Ok(())
    }
}

/// A method that adds its own update after each update of the step method (docs/methods.md §2.3 step 3).
pub trait AfterUpdate {
    /// Runs after an update on `x`, whose logits before that update were `logits`; returns loss terms.
    fn after_update(
        &mut self,
        ctx: &mut StepContext,
        x: &Tensor,
        y: &Tensor,
        logits: &Tensor,
    ) -> Result<Vec<(String, f64)>>;
}

/// A step method with an after-update method, e.g. `free-at+tenet`.
struct Composite {
    step: Box<dyn Method>,
    after: Option<Box<dyn AfterUpdate>>,
}

impl Method for Composite {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        ctx.after = self.after.take();
        let out = self.step.train_step(ctx, x, y);
        self.after = ctx.after.take();
        let mut out = out?;
        out.terms.append(&mut ctx.extra_terms);
        Ok(out)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.step.state()
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) {
        self.step.load_state(tensors)
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

/// The composition `name` (`a+b+…`) read against [`METHODS`].
pub fn composition(name: &str) -> Result<Composition> {
    Composition::parse(name, METHODS)
}

/// The parts of a composition `a+b+…`: each a known method, no repeats, at most one of each role.
pub fn parts(name: &str) -> Result<Vec<&'static MethodInfo>> {
    Ok(composition(name)?.parts)
}

/// The composition's parts in registry order (the order their settings and loader steps apply in).
fn in_registry_order(c: &Composition) -> impl Iterator<Item = &'static MethodInfo> + '_ {
    METHODS.iter().copied().filter(|m| c.uses(m.name))
}

/// What the loader adds for the composition's data methods; `mean` is the model's normalisation mean.
pub fn loader_augment(m: &MethodConfig, mean: &[f64]) -> MethodAugment {
    let mut out = MethodAugment { fill: mean.iter().map(|&v| v as f32).collect(), ..Default::default() };
    if let Ok(c) = composition(&m.name) {
        for info in in_registry_order(&c) {
            if let Build::Data { loader, .. } = info.build {
                loader(m, &c, &mut out);
            }
        }
    }
    out
}

/// Fills in the methods' published defaults for what the recipe left unset (written to config.toml).
pub fn resolve(m: &mut MethodConfig) {
    let Ok(c) = composition(&m.name) else { return };
    for info in in_registry_order(&c) {
        if let Some(section) = info.section {
            if let Ok(v) = (section.normalize)(m.section(section.key)) {
                m.set_section(section.key, v);
            }
        }
        if let Some(resolve) = info.resolve {
            resolve(m, &c);
        }
    }
}

/// Fills in what depends on the model, such as the default stages of TENET, FMA and dropout
/// (written to config.toml).
pub fn bind(m: &mut MethodConfig, net: &Network) {
    let Ok(c) = composition(&m.name) else { return };
    for bind in in_registry_order(&c).filter_map(|info| info.bind) {
        bind(m, net);
    }
}

/// The convolutional stages (all but the head).
pub fn conv_stages(net: &Network) -> &[&'static str] {
    let names = net.stages();
    &names[..names.len().saturating_sub(1)]
}

/// The second-to-last convolutional stage: the released code's layer 3 of 4 (docs/methods.md §2.2).
pub fn default_tenet_stage(net: &Network) -> &'static str {
    let names = net.stages();
    names[names.len().saturating_sub(3)]
}

/// Index of a convolutional stage for setting `key`; the head and unknown names are errors.
pub fn conv_stage(net: &Network, name: &str, key: &str) -> Result<usize> {
    let stage = net.stage_index(name).map_err(|e| Error::Config(format!("{key}: {e}")))?;
    if stage + 1 >= net.stages().len() {
        return Err(Error::Config(format!("{key} {name}: must be a convolutional stage, not the head")));
    }
    Ok(stage)
}

/// Builds the method of a resolved config for `net` with `num_classes` outputs: the named step method,
/// else the step a data method supplies, else baseline; wrapped by the after-update method if any.
/// Refuses a composition with a method whose loss needs one label per image on multi-label data.
pub fn check_task(name: &str, multi_label: bool) -> Result<()> {
    let c = composition(name)?;
    match c.parts.iter().find_map(|p| p.single_label.map(|why| (p.name, why))) {
        Some((part, why)) if multi_label => Err(Error::Config(format!(
            "method '{name}': {part} needs one label per image ({why}), and this dataset is multi-label; \
             methods for multi-label data: {} (docs/multilabel.md §2)",
            METHODS.iter().filter(|m| m.single_label.is_none()).map(|m| m.name).collect::<Vec<_>>().join(", ")
        ))),
        _ => Ok(()),
    }
}

pub fn build(m: &MethodConfig, net: &Network, num_classes: i64) -> Result<Box<dyn Method>> {
    let c = composition(&m.name)?;
    let data_step = || {
        c.parts.iter().find_map(|p| match p.build {
            Build::Data { step: Some(step), .. } => step(m),
            _ => None,
        })
    };
    let step: Box<dyn Method> = match (c.step().map(|p| p.build), c.plain_step()) {
        (Some(Build::Step(build)), false) => build(m, net, num_classes)?,
        _ => data_step().unwrap_or_else(|| Box::new(baseline::Baseline)),
    };
    match c.parts.iter().find_map(|p| match p.build {
        Build::AfterUpdate(after) => Some(after),
        _ => None,
    }) {
        Some(after) => Ok(Box::new(Composite { step, after: Some(after(m, net)?) })),
        None => Ok(step),
    }
}
