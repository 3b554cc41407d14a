//! Stability training (Zheng et al. 2016; docs/methods.md §3.2): L = CE(f(x), y) + α·KL(p(x) ‖ p(x′)), with
//! x′ the CA view when `ca` is combined (ST + CA, Kapoor et al. 2020), else clamp(x + N(0, σ²), 0, 1).
//! Clean and perturbed images take separate forward passes (each batch norm sees its own batch's
//! statistics; faster on CPU than one concatenated batch in an A/B run, BENCHMARKS.md).
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::settings::weight;
use super::{Method, StepContext, StepOutput};
use crate::error::Result;
use crate::rng::with_torch_seed;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Stability training (Zheng et al. 2016; docs/methods.md §3.2): CE(x) + α·KL(p(x) ‖ p(x′)), x′ the CA view
/// when `ca` is combined, else x + N(0, σ²).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StConfig {
    /// Weight α of the KL term.
    pub alpha: f64,
    /// Standard deviation σ of the Gaussian perturbation (pixel units in [0,1]) when there is no CA view.
    pub sigma: f64,
    /// Stop the gradient through the clean branch of the KL term (default: both branches train).
    pub detach_clean: bool,
}

impl Default for StConfig {
    fn default() -> Self {
        StConfig { alpha: 0.1, sigma: 0.04, detach_clean: false }
    }
}

pub const ENTRY: MethodInfo = MethodInfo {
    single_label: Some("stability training's KL term compares softmax distributions over one label"),
    section: Some(super::entry::section::<StConfig>()),
    takes_view: true,
    ..MethodInfo::new(
        "st",
        "stability training (Zheng et al. 2016): CE + 0.1 KL(p(x) || p(x')), x' Gaussian noise (sigma 0.04) or the CA view (st+ca)",
        Build::Step(|m, _, _| Ok(Box::new(Stability { cfg: m.get_or_default() }))),
    )
};

impl Settings for StConfig {
    const KEY: &'static str = "st";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        if !weight(self.alpha) || !weight(self.sigma) {
            return Err(Invalid::Key("alpha/sigma", "must be non-negative numbers".into()));
        }
        Ok(())
    }
}

const NOISE_SEED: u64 = 0x5354;

/// KL(p ‖ q) per sample summed over classes, averaged over the batch, from logits.
pub fn kl_divergence(p_logits: &Tensor, q_logits: &Tensor) -> Tensor {
    let log_p = p_logits.log_softmax(-1, Kind::Float);
    let log_q = q_logits.log_softmax(-1, Kind::Float);
    (log_p.exp() * (&log_p - log_q)).sum(Kind::Float) / p_logits.size()[0].max(1) as f64
}

/// The perturbed copy of the batch: the loader's view when there is one, else Gaussian noise seeded by
/// (seed, step), clamped to [0,1].
pub fn perturbed(ctx: &StepContext, x: &Tensor, sigma: f64) -> Tensor {
    match ctx.views.first() {
        Some(v) => v.shallow_clone(),
        None => {
            with_torch_seed(ctx.seed, &[NOISE_SEED, ctx.step as u64], || (x + x.randn_like() * sigma).clamp(0.0, 1.0))
        }
    }
}

pub struct Stability {
    pub cfg: StConfig,
}

impl Method for Stability {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let x2 = perturbed(ctx, x, self.cfg.sigma);
        let logits = [ctx.forward(x, 0), ctx.forward(&x2, 1)];
        let ce = ctx.cross_entropy(&logits[0], y);
        let clean = if self.cfg.detach_clean { logits[0].detach() } else { logits[0].shallow_clone() };
        let kl = kl_divergence(&clean, &logits[1]);
        let (loss, terms) =
            ctx.update_with_term(&ce, ("st_kl", &kl, self.cfg.alpha), "stability (cross-entropy + KL)")?;
        ctx.after_update(x, y, &logits[0])?;
        Ok(StepOutput { loss, logits: logits[0].detach(), terms })
    }
}
