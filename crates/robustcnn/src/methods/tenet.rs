//! TENET, group-wise inhibition (Liu et al. ICCV 2021; docs/methods.md §2): after an ordinary update, the
//! correctly classified samples' feature maps at one stage are grouped by channel (per-sample k-means),
//! each group's most salient positions are inhibited by a reverse-sigmoid mask weighted by the gradient
//! of σ(true-class logit), and a second update trains the rest of the network on the inhibited maps,
//! plus an orthogonality loss between the groups. Everything runs batched on the model's device.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::settings::weight;
use super::{conv_stage, default_tenet_stage, AfterUpdate, MethodConfig, StepContext};
use crate::error::{Error, Result};
use crate::models::Network;
use crate::rng::with_torch_seed;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// TENET's settings, defaults from the released CIFAR code (docs/methods.md §2.8, §2.12).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TenetConfig {
    /// The stage whose output is grouped and inhibited; unset means the second-to-last convolutional
    /// stage (the code's layer 3 of 4: ResNeXt-29's stage2, ResNet-50's stage3), written out resolved.
    pub stage: Option<String>,
    /// Channel groups per sample (K).
    pub groups: usize,
    /// First global iteration (counted from 1) that may take a TENET step (T_switch).
    pub switch: usize,
    /// A TENET step on every k-th iteration (`thinking_alpha`).
    pub every: usize,
    /// Weight of the cross-entropy of the masked pass (λ_t).
    pub lambda_tenet: f64,
    /// Weight of the orthogonality loss (λ_o; 1e-3 on CIFAR, 0.1 in the code's default config).
    pub lambda_orth: f64,
    /// k-means iterations at most.
    pub kmeans_iters: usize,
    /// k-means stops when the squared centre shift falls below this.
    pub kmeans_tol: f64,
    /// Added to the standard deviation in the z-normalisation of a group's map.
    pub std_eps: f64,
}

impl Default for TenetConfig {
    fn default() -> Self {
        TenetConfig {
            stage: None,
            groups: 6,
            switch: 500,
            every: 3,
            lambda_tenet: 0.1,
            lambda_orth: 1e-3,
            kmeans_iters: 50,
            kmeans_tol: 1e-4,
            std_eps: 1e-8,
        }
    }
}

pub const ENTRY: MethodInfo = MethodInfo {
    single_label: Some("TENET's inhibition reads the true class's score"),
    section: Some(super::entry::section::<TenetConfig>()),
    bind: Some(bind),
    ..MethodInfo::new(
        "tenet",
        "group-wise inhibition (Liu et al. 2021): every 3rd step from step 500, a second update on feature maps whose salient channel groups are inhibited, plus an orthogonality loss; composes, e.g. free-at+tenet",
        Build::AfterUpdate(build_after_update),
    )
};

impl Settings for TenetConfig {
    const KEY: &'static str = "tenet";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        let bad = |key, what: &str| Err(Invalid::Key(key, what.into()));
        if self.groups < 2 {
            return bad("groups", "must be at least 2");
        }
        if self.every == 0 {
            return bad("every", "must be at least 1 (1 = every step)");
        }
        if !weight(self.lambda_tenet) {
            return bad("lambda_tenet", "must be a non-negative number");
        }
        if !weight(self.lambda_orth) {
            return bad("lambda_orth", "must be a non-negative number");
        }
        if self.kmeans_iters == 0 {
            return bad("kmeans_iters", "must be at least 1");
        }
        if !weight(self.kmeans_tol) {
            return bad("kmeans_tol", "must be a non-negative number");
        }
        if !(self.std_eps > 0.0 && self.std_eps.is_finite()) {
            return bad("std_eps", "must be a positive number");
        }
        if self.stage.as_deref() == Some("head") {
            return bad("stage", "must be a convolutional stage, not the head");
        }
        Ok(())
    }
}

/// Writes the default stage for the model into the settings.
fn bind(m: &mut MethodConfig, net: &Network) {
    let mut t: TenetConfig = m.get_or_default();
    t.stage.get_or_insert_with(|| default_tenet_stage(net).to_string());
    m.set(&t);
}

/// Seed path of the k-means initial centres.
const TENET_SEED: u64 = 0x5445_4e45;

/// The feature map A after `stage` and G = ∂ Σ_b σ(z_{b,y_b}) / ∂A, both with the model in eval mode
/// (docs/methods.md §2.3 step 2). Only the gradient with respect to A is computed; no parameter gradient.
pub fn importance_gradient(net: &Network, x: &Tensor, y: &Tensor, stage: usize) -> (Tensor, Tensor) {
    let a = tch::no_grad(|| net.forward_to(x, stage, false));
    tch::with_grad(|| {
        let leaf = a.detach().set_requires_grad(true);
        let logits = net.forward_from(&leaf, stage, false);
        let target = logits.gather(1, &y.unsqueeze(1), false).sigmoid().sum(Kind::Float);
        let grad = Tensor::run_backward(&[target], &[&leaf], false, false).remove(0);
        (a, grad)
    })
}

/// Squared distances between every point and every centre up to a per-point constant:
/// ‖μ_k‖² − 2⟨x_c, μ_k⟩, shaped P×C×K (the argmin over k equals that of ‖x_c − μ_k‖²).
fn assignment_scores(x: &Tensor, centres: &Tensor) -> Tensor {
    let norms = centres.square().sum_dim_intlist(-1, false, Kind::Float).unsqueeze(1);
    norms - x.bmm(&centres.transpose(1, 2)) * 2.0
}

/// The rows `idx` (P×K) of each sample's points x (P×C×D).
fn rows(x: &Tensor, idx: &Tensor) -> Tensor {
    let d = x.size()[2];
    let (p, k) = (idx.size()[0], idx.size()[1]);
    x.gather(1, &idx.unsqueeze(-1).expand([p, k, d], false), false)
}

/// One-hot group membership (P×C×K, float) of labels (P×C).
fn membership(labels: &Tensor, k: i64) -> Tensor {
    labels.one_hot(k).to_kind(Kind::Float)
}

/// The medoid-style k-means of docs/methods.md §2.4, for each sample independently: x is P×C×D (C points of
/// dimension D per sample), `init` P×K distinct starting indices. Assign each point to the nearest
/// centre (ties to the lowest k), then for k = 0..K−1 in turn move centre k to the point nearest the
/// mean of its cluster, skipping points already chosen; stop when the squared centre shift is below
/// `tol` or after `max_iter` iterations, returning the assignment made at the start of the last one.
/// An empty cluster has no mean: its centre moves to the nearest point not yet chosen to its old
/// centre — the old centre itself when free (the reference code's NaN mean picks index 0 instead).
/// Exact ties (a two-point cluster's mean is equidistant from both) are broken by float rounding here,
/// as in the float32 reference; everywhere else the result is the reference's (tested).
pub fn kmeans(x: &Tensor, init: &Tensor, max_iter: usize, tol: f64) -> Tensor {
    let (p, c, _) = x.size3().unwrap_or((0, 0, 0));
    let k = init.size()[1];
    let point_norms = x.square().sum_dim_intlist(-1, false, Kind::Float);
    let mut idx = init.shallow_clone();
    let mut labels = Tensor::zeros([p, c], (Kind::Int64, x.device()));
    let mut active = Tensor::ones([p], (Kind::Bool, x.device()));
    for _ in 0..max_iter {
        let centres = rows(x, &idx);
        let assign = assignment_scores(x, &centres).argmin(-1, false);
        labels = assign.where_self(&active.unsqueeze(1), &labels);
        let member = membership(&assign, k);
        let counts = member.sum_dim_intlist(1, false, Kind::Float);
        let means = member.transpose(1, 2).bmm(x) / counts.clamp_min(1.0).unsqueeze(-1);
        let targets = means.where_self(&counts.gt(0.0).unsqueeze(-1), &centres);
        // ‖x_c − t_k‖² up to the constant ‖t_k‖², which does not change the argmin over c.
        let to_targets = point_norms.unsqueeze(-1) - x.bmm(&targets.transpose(1, 2)) * 2.0;
        let mut taken = Tensor::zeros([p, c], (Kind::Bool, x.device()));
        let mut chosen = Vec::with_capacity(k as usize);
        for j in 0..k {
            let pick = to_targets.select(2, j).masked_fill(&taken, f64::INFINITY).argmin(1, true);
            taken = taken.scatter_value(1, &pick, 1);
            chosen.push(pick);
        }
        let new_idx = Tensor::cat(&chosen, 1);
        let shift = (rows(x, &new_idx) - &centres)
            .square()
            .sum_dim_intlist(-1, false, Kind::Float)
            .sqrt()
            .sum_dim_intlist(-1, false, Kind::Float);
        idx = new_idx.where_self(&active.unsqueeze(1), &idx);
        active = active.logical_and(&shift.square().ge(tol));
        if !bool::try_from(active.any()).unwrap_or(false) {
            break;
        }
    }
    labels
}

/// K distinct channel indices per sample, uniform without replacement (the code's `np.random.choice`),
/// drawn from libtorch's generator seeded by (seed, step, call).
pub fn initial_centres(p: i64, c: i64, k: i64, seed: u64, path: &[u64], device: tch::Device) -> Tensor {
    with_torch_seed(seed, path, || Tensor::rand([p, c], (Kind::Float, device)).argsort(1, false).narrow(1, 0, k))
}

/// The reversed group maps as a mask tensor (docs/methods.md §2.3 step 4): α_c = mean over positions of G,
/// I_g = Σ_{c∈g} α_c, m_g = Σ_{c∈g} α_c·A_c, RM_g = σ(−(m_g − mean)/(std + eps)) with the population std,
/// RM_g = 1 where I_g ≤ 0 or the group is empty; every channel takes its group's map.
pub fn inhibition_masks(a: &Tensor, g: &Tensor, labels: &Tensor, k: i64, std_eps: f64) -> Tensor {
    let (p, c, h, w) = a.size4().unwrap_or((0, 0, 0, 0));
    let weighted = weighted_membership(g, labels, k);
    let importance = weighted.sum_dim_intlist(1, false, Kind::Float);
    let cam = weighted.transpose(1, 2).bmm(&a.reshape([p, c, h * w]));
    let mean = cam.mean_dim(-1, true, Kind::Float);
    let std = cam.std_correction(-1, 0, true);
    let reversed = ((cam - mean) / (std + std_eps)).neg().sigmoid();
    let inhibit = importance.gt(0.0).unsqueeze(-1);
    let reversed = reversed.where_self(&inhibit, &reversed.ones_like());
    reversed.gather(1, &labels.unsqueeze(-1).expand([p, c, h * w], false), false).reshape([p, c, h, w])
}

/// Membership weighted by each channel's α = mean of G over positions (P×C×K).
fn weighted_membership(g: &Tensor, labels: &Tensor, k: i64) -> Tensor {
    membership(labels, k) * g.mean_dim([2i64, 3].as_slice(), false, Kind::Float).unsqueeze(-1)
}

/// The group importances I_g = Σ_{c∈g} α_c (P×K; 0 for an empty group).
pub fn group_importance(g: &Tensor, labels: &Tensor, k: i64) -> Tensor {
    weighted_membership(g, labels, k).sum_dim_intlist(1, false, Kind::Float)
}

/// Channels per group (P×K) and each group's mean channel map u_g (P×K×HW; zeros for an empty group).
pub fn group_means(a: &Tensor, labels: &Tensor, k: i64) -> (Tensor, Tensor) {
    let (p, c, h, w) = a.size4().unwrap_or((0, 0, 0, 0));
    let member = membership(labels, k);
    let counts = member.sum_dim_intlist(1, false, Kind::Float);
    let u = member.transpose(1, 2).bmm(&a.reshape([p, c, h * w])) / counts.clamp_min(1.0).unsqueeze(-1);
    (counts, u)
}

/// The orthogonality loss of docs/methods.md §2.5: per sample, the mean over pairs of non-empty groups of
/// |⟨u_g, u_g′⟩| with u_g the group's mean channel map (N_pairs = 1 when fewer than two groups), then
/// the mean over samples. Gradients flow into `a`.
pub fn orthogonality(a: &Tensor, labels: &Tensor, k: i64) -> Tensor {
    let (counts, u) = group_means(a, labels, k);
    let gram = u.bmm(&u.transpose(1, 2)).abs();
    let present = counts.gt(0.0).to_kind(Kind::Float);
    let upper = Tensor::ones([k, k], (Kind::Float, a.device())).triu(1);
    let pairs = present.unsqueeze(2) * present.unsqueeze(1) * upper;
    let n_pairs = pairs.sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float).clamp_min(1.0);
    ((gram * &pairs).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float) / n_pairs).mean(Kind::Float)
}

/// The TENET step, taken after the ordinary update of every k-th iteration from T_switch on.
pub struct Tenet {
    pub cfg: TenetConfig,
    pub stage: usize,
}

impl Tenet {
    /// Whether global step `step` (counted from 0) takes a TENET step: t = step + 1 ≥ T_switch, t mod k = 0.
    pub fn due(&self, step: usize) -> bool {
        let t = step + 1;
        t >= self.cfg.switch && t.is_multiple_of(self.cfg.every.max(1))
    }
}

impl AfterUpdate for Tenet {
    fn after_update(
        &mut self,
        ctx: &mut StepContext,
        x: &Tensor,
        y: &Tensor,
        logits: &Tensor,
    ) -> Result<Vec<(String, f64)>> {
        if !self.due(ctx.step) {
            return Ok(Vec::new());
        }
        let positive = logits.argmax(-1, false).eq_tensor(y).nonzero().squeeze_dim(1);
        let n = positive.size()[0];
        // Train-mode batch norm needs two samples; the code would fail on one.
        if n < 2 {
            return Ok(vec![("tenet_samples".into(), n as f64)]);
        }
        let (xp, yp) = (x.index_select(0, &positive), y.index_select(0, &positive));
        let (a, g) = importance_gradient(ctx.net, &xp, &yp, self.stage);
        let (_, c, h, w) = a.size4().unwrap_or((0, 0, 0, 0));
        let k = self.cfg.groups as i64;
        if c < k {
            return Err(Error::Config(format!(
                "method.tenet.groups {k}: the stage's feature map has only {c} channels; choose at most {c} groups"
            )));
        }
        let (labels, masks) = tch::no_grad(|| {
            let init = initial_centres(n, c, k, ctx.seed, &[TENET_SEED, ctx.step as u64], a.device());
            let labels = kmeans(&a.reshape([n, c, h * w]), &init, self.cfg.kmeans_iters, self.cfg.kmeans_tol);
            let masks = inhibition_masks(&a, &g, &labels, k, self.cfg.std_eps);
            (labels, masks)
        });
        let features = ctx.forward_to(&xp, self.stage);
        let orth = orthogonality(&features, &labels, k);
        let masked_logits = ctx.forward_from(&(&features * masks), self.stage);
        let ce = ctx.cross_entropy(&masked_logits, &yp);
        let loss = &ce * self.cfg.lambda_tenet + &orth * self.cfg.lambda_orth;
        ctx.update(&loss, "TENET", None)?;
        Ok(vec![
            ("tenet_samples".into(), n as f64),
            ("tenet_ce".into(), ce.double_value(&[])),
            ("tenet_orth".into(), orth.double_value(&[])),
        ])
    }
}

/// TENET as the after-update part of a composition, at its configured (else default) stage.
pub fn build_after_update(m: &MethodConfig, net: &Network) -> Result<Box<dyn AfterUpdate>> {
    let cfg: TenetConfig = m.get_or_default();
    let stage_name = cfg.stage.clone().unwrap_or_else(|| default_tenet_stage(net).to_string());
    let stage = conv_stage(net, &stage_name, "method.tenet.stage")?;
    Ok(Box::new(Tenet { cfg, stage }))
}
