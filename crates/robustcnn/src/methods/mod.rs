//! Training methods: each owns one training step — its forward passes, losses and updates — and
//! reports its loss terms by name. A method touches no other method and not the loop; its settings
//! live in its own file, and `METHODS` lists it with its role in compositions.
pub mod adversarial;
pub mod augmix;
mod baseline;
pub mod dropout;
pub mod fma;
mod free_at;
pub mod lfm;
pub mod settings;
pub mod stability;
pub mod tenet;

use crate::attacks::Budget;
use crate::error::{Error, Result};
use crate::models::Network;
use crate::rng::with_torch_seed;
use crate::train::optim::Optimizer;
pub use adversarial::AttackMode;
pub use settings::MethodConfig;
use std::collections::HashMap;
use tch::{Reduction, Tensor};

/// Seed path of the dropout masks of a step's forward passes.
const DROPOUT_SEED: u64 = 3;

/// How a method takes part in a composition such as `free-at+tenet`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Owns the training step; at most one per composition (baseline when none is named).
    Step,
    /// Adds its own update after each update of the step (TENET).
    AfterUpdate,
    /// Changes the training images in the loader (AugMix, Cutout, Random Erasing); any number.
    Data,
}

/// A method in the registry.
pub struct MethodInfo {
    pub name: &'static str,
    pub role: Role,
    pub summary: &'static str,
    /// Builds the update an [`Role::AfterUpdate`] method adds after each step (None for the others).
    pub after_update: Option<AfterUpdateBuilder>,
}

/// Builds an after-update method from the resolved settings, for a model.
pub type AfterUpdateBuilder = fn(&MethodConfig, &Network) -> Result<Box<dyn AfterUpdate>>;

/// Every method, by name.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo { name: "baseline", role: Role::Step, summary: "cross-entropy on the (augmented) training images", after_update: None },
    MethodInfo {
        name: "lfm",
        role: Role::Step,
        summary: "local feature masking (Gong et al. 2024): regions of random channels of the stem's output masked, p 0.15, 32 channels", after_update: None },
    MethodInfo {
        name: "pgd-at",
        role: Role::Step,
        summary: "PGD adversarial training (Madry et al. 2018): train on PGD-7 examples, ε 8/255, α 2/255", after_update: None },
    MethodInfo {
        name: "fast-at",
        role: Role::Step,
        summary: "fast adversarial training (Wong et al. 2020): one FGSM step of α 10/255 from a random start, ε 8/255", after_update: None },
    MethodInfo {
        name: "free-at",
        role: Role::Step,
        summary: "free adversarial training (Shafahi et al. 2019): each batch replayed m = 8 times, perturbation carried over", after_update: None },
    MethodInfo {
        name: "tenet",
        role: Role::AfterUpdate,
        summary: "group-wise inhibition (Liu et al. 2021): every 3rd step from step 500, a second update on feature maps whose salient channel groups are inhibited, plus an orthogonality loss; composes, e.g. free-at+tenet", after_update: Some(tenet::build_after_update) },
    MethodInfo {
        name: "augmix",
        role: Role::Data,
        summary: "AugMix (Hendrycks et al. 2020): mixed chains of 9 Pillow operations; alone with the Jensen-Shannon loss (lambda 12), combined (tenet+augmix) as TENET's AugMix copy plus clean copy", after_update: None },
    MethodInfo {
        name: "cutout",
        role: Role::Data,
        summary: "Cutout (DeVries & Taylor 2017): a 16x16 square of each image set to the mean", after_update: None },
    MethodInfo {
        name: "random-erasing",
        role: Role::Data,
        summary: "Random Erasing (Zhong et al. 2020): p 0.5, a rectangle of 2-40% of the image filled with random values", after_update: None },
    MethodInfo {
        name: "dropout",
        role: Role::Step,
        summary: "dropout (p 0.5) on the last convolutional stage's output map during training", after_update: None },
    MethodInfo {
        name: "ca",
        role: Role::Data,
        summary: "combined augmentations (Kapoor et al. 2020): each image gets one of 8 photometric, blur and noise corruptions at severity 1-5; the view of st+ca and fma+ca", after_update: None },
    MethodInfo {
        name: "st",
        role: Role::Step,
        summary: "stability training (Zheng et al. 2016): CE + 0.1 KL(p(x) || p(x')), x' Gaussian noise (sigma 0.04) or the CA view (st+ca)", after_update: None },
    MethodInfo {
        name: "fma",
        role: Role::Step,
        summary: "feature-map augmentation loss (Kapoor et al. 2020): CE on x' + MSE between clean and augmented stage outputs; fma+ca finetunes with CA views (train --init RUN)", after_update: None },
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

fn find(name: &str) -> Result<&'static MethodInfo> {
    METHODS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        Error::Config(format!(
            "unknown method '{name}' (methods: {}; combine with +, e.g. free-at+tenet)",
            names.join(", ")
        ))
    })
}

/// The parts of a composition `a+b+…`: each a known method, no repeats, at most one of each role.
pub fn parts(name: &str) -> Result<Vec<&'static MethodInfo>> {
    let mut out: Vec<&'static MethodInfo> = Vec::new();
    for part in name.split('+').map(str::trim) {
        let info = find(part)?;
        if out.iter().any(|o| o.name == info.name) {
            return Err(Error::Config(format!("method '{name}': {} is named twice", info.name)));
        }
        if let Some(other) = out.iter().find(|o| o.role == info.role && o.role != Role::Data) {
            return Err(Error::Config(format!(
                "method '{name}': {} and {} cannot be combined (each owns the training step)",
                other.name, info.name
            )));
        }
        out.push(info);
    }
    Ok(out)
}

pub use settings::validate;

/// The composition's step method (baseline when only an after-update method is named).
fn step_name(parts: &[&'static MethodInfo]) -> &'static str {
    parts.iter().find(|p| p.role == Role::Step).map_or("baseline", |p| p.name)
}

fn uses(parts: &[&'static MethodInfo], name: &str) -> bool {
    parts.iter().any(|p| p.name == name)
}

/// What the loader adds for the composition's data methods; `mean` is the model's normalisation mean.
pub fn loader_augment(m: &MethodConfig, mean: &[f64]) -> crate::data::augment::MethodAugment {
    let augmix = m.augmix.as_ref().map(|a| crate::data::augment::AugMixSpec {
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
    let as_view = parts(&m.name).is_ok_and(|p| matches!(step_name(&p), "st" | "fma"));
    let ca = m.ca.as_ref().map(|c| crate::data::augment::CaSpec::new(c, as_view));
    crate::data::augment::MethodAugment {
        augmix,
        ca,
        cutout: m.cutout.clone(),
        erasing: m.random_erasing.clone(),
        fill: mean.iter().map(|&v| v as f32).collect(),
    }
}

fn budget(text: &str) -> Option<Budget> {
    Budget::parse(text, "budget").ok()
}

/// Fills in the methods' published defaults for what the recipe left unset (written to config.toml).
pub fn resolve(m: &mut MethodConfig) {
    let Ok(parts) = parts(&m.name) else { return };
    let a = &mut m.adversarial;
    match step_name(&parts) {
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
    if uses(&parts, "tenet") {
        m.tenet.get_or_insert_with(Default::default);
    }
    if uses(&parts, "augmix") {
        // Alone: the AugMix paper (Jensen–Shannon). Combined with a step or TENET: TENET's recipe.
        let combined = parts.iter().any(|p| p.role != Role::Data);
        let a = m.augmix.get_or_insert_with(Default::default);
        a.jsd = a.jsd.or(Some(!combined));
        a.clean_copy = a.clean_copy.or(Some(combined));
    }
    if uses(&parts, "cutout") {
        m.cutout.get_or_insert_with(Default::default);
    }
    if uses(&parts, "ca") {
        m.ca.get_or_insert_with(Default::default);
    }
    if uses(&parts, "st") {
        m.st.get_or_insert_with(Default::default);
    }
    if uses(&parts, "fma") {
        m.fma.get_or_insert_with(Default::default);
    }
    if uses(&parts, "dropout") {
        m.dropout.get_or_insert_with(Default::default);
    }
    if uses(&parts, "random-erasing") {
        m.random_erasing.get_or_insert_with(Default::default);
    }
}

/// Fills in what depends on the model: the default stages of TENET, FMA and dropout (written to
/// config.toml).
pub fn bind(m: &mut MethodConfig, net: &Network) {
    if let Some(t) = &mut m.tenet {
        t.stage.get_or_insert_with(|| default_tenet_stage(net).to_string());
    }
    if let Some(f) = &mut m.fma {
        f.stages.get_or_insert_with(|| conv_stages(net).iter().map(|s| s.to_string()).collect());
    }
    if let Some(d) = &mut m.dropout {
        d.stage.get_or_insert_with(|| conv_stages(net).last().map_or("stem", |s| s).to_string());
    }
}

/// The convolutional stages (all but the head).
fn conv_stages(net: &Network) -> &[&'static str] {
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

/// Builds the method of a resolved config for `net` with `num_classes` outputs.
pub fn build(m: &MethodConfig, net: &Network, num_classes: i64) -> Result<Box<dyn Method>> {
    let parts = parts(&m.name)?;
    let a = &m.adversarial;
    let value = |b: &Option<Budget>| b.as_ref().map_or(0.0, |b| b.value);
    let step: Box<dyn Method> = match step_name(&parts) {
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
            let stage = conv_stage(net, &cfg.stage, "method.lfm.stage")?;
            Box::new(lfm::Lfm { cfg, stage })
        }
        "st" => Box::new(stability::Stability { cfg: m.st.clone().unwrap_or_default() }),
        "fma" => {
            let cfg = m.fma.clone().unwrap_or_default();
            let names = cfg.stages.clone().unwrap_or_else(|| conv_stages(net).iter().map(|s| s.to_string()).collect());
            let stages = names.iter().map(|s| conv_stage(net, s, "method.fma.stages")).collect::<Result<Vec<_>>>()?;
            Box::new(fma::Fma { cfg, stages })
        }
        "dropout" => {
            let cfg = m.dropout.clone().unwrap_or_default();
            let name = cfg.stage.clone().unwrap_or_else(|| conv_stages(net).last().map_or("stem", |s| s).to_string());
            Box::new(dropout::Dropout {
                probability: cfg.probability,
                stage: conv_stage(net, &name, "method.dropout.stage")?,
            })
        }
        _ => match &m.augmix {
            Some(a) if a.jsd == Some(true) => Box::new(augmix::AugMixJsd { lambda: a.lambda }),
            _ => Box::new(baseline::Baseline),
        },
    };
    // Composition by role: the after-update part, if any, wraps the step.
    match parts.iter().find_map(|p| p.after_update) {
        Some(after) => Ok(Box::new(Composite { step, after: Some(after(m, net)?) })),
        None => Ok(step),
    }
}
