//! The FMA loss (Kapoor et al. 2020; docs/methods.md §3.3): L = CE + λ·Σ_l d(F_l(x), F_l(x̃)) over chosen
//! stages, x̃ the CA view when `ca` is combined (FMA + CA), else clamp(x + N(0, σ²), 0, 1). The paper's
//! details are not public: distance, weight, stop-gradient and which images the CE sees are options
//! whose defaults (MSE, 1, clean maps as fixed targets, CE on x̃) are ours.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::settings::weight;
use super::stability::perturbed;
use super::{conv_stage, conv_stages, Method, MethodConfig, StepContext, StepOutput};
use crate::error::Result;
use crate::models::Network;
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// The feature-map distance of FMA.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FmaDistance {
    /// Mean squared difference per element.
    Mse,
    /// Euclidean norm of the difference per sample, averaged.
    L2,
    /// Mean absolute difference per element.
    L1,
    /// 1 − cosine similarity of the flattened maps per sample, averaged.
    Cosine,
}

/// Which images the cross-entropy of FMA sees.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FmaCe {
    Augmented,
    Clean,
    Both,
}

/// The FMA loss (Kapoor et al. 2020; docs/methods.md §3.3, a documented template): CE + λ·Σ_l d(F_l(x), F_l(x̃)),
/// x̃ the CA view when `ca` is combined, else x + N(0, σ²).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FmaConfig {
    /// Stages whose output maps are compared; unset means every convolutional stage.
    pub stages: Option<Vec<String>>,
    pub distance: FmaDistance,
    /// Weight λ of the feature-map term.
    pub weight: f64,
    /// Treat the clean maps as fixed targets (stop-gradient).
    pub detach_clean: bool,
    pub ce: FmaCe,
    /// σ of the Gaussian perturbation when there is no CA view.
    pub sigma: f64,
}

impl Default for FmaConfig {
    fn default() -> Self {
        FmaConfig {
            stages: None,
            distance: FmaDistance::Mse,
            weight: 1.0,
            detach_clean: true,
            ce: FmaCe::Augmented,
            sigma: 0.04,
        }
    }
}

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<FmaConfig>()),
    bind: Some(bind),
    takes_view: true,
    ..MethodInfo::new(
        "fma",
        "feature-map augmentation loss (Kapoor et al. 2020): CE on x' + MSE between clean and augmented stage outputs; fma+ca finetunes with CA views (train --init RUN)",
        Build::Step(build),
    )
};

impl Settings for FmaConfig {
    const KEY: &'static str = "fma";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        if !weight(self.weight) || !weight(self.sigma) {
            return Err(Invalid::Key("weight/sigma", "must be non-negative numbers".into()));
        }
        if self.stages.as_ref().is_some_and(|s| s.is_empty()) {
            let what = "must name at least one stage (leave it out for every convolutional stage)";
            return Err(Invalid::Key("stages", what.into()));
        }
        Ok(())
    }
}

/// Every convolutional stage of the model, by name.
fn all_stages(net: &Network) -> Vec<String> {
    conv_stages(net).iter().map(|s| s.to_string()).collect()
}

/// Writes the default stages for the model into the settings.
fn bind(m: &mut MethodConfig, net: &Network) {
    let mut f: FmaConfig = m.get_or_default();
    f.stages.get_or_insert_with(|| all_stages(net));
    m.set(&f);
}

fn build(m: &MethodConfig, net: &Network, _: i64) -> Result<Box<dyn Method>> {
    let cfg: FmaConfig = m.get_or_default();
    let names = cfg.stages.clone().unwrap_or_else(|| all_stages(net));
    let stages = names.iter().map(|s| conv_stage(net, s, "method.fma.stages")).collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Fma { cfg, stages }))
}

/// d(a, b) for feature maps of a batch (docs/methods.md §3.3).
pub fn distance(a: &Tensor, b: &Tensor, d: FmaDistance) -> Tensor {
    match d {
        // libtorch's fused losses: one kernel each way instead of three.
        FmaDistance::Mse => a.mse_loss(b, Reduction::Mean),
        FmaDistance::L1 => a.l1_loss(b, Reduction::Mean),
        FmaDistance::L2 => (a - b).flatten(1, -1).norm_scalaropt_dim(2, [1i64].as_slice(), false).mean(Kind::Float),
        FmaDistance::Cosine => {
            let cos = Tensor::cosine_similarity(&a.flatten(1, -1), &b.flatten(1, -1), 1, 1e-8);
            (cos.ones_like() - cos).mean(Kind::Float)
        }
    }
}

pub struct Fma {
    pub cfg: FmaConfig,
    /// Indices of the compared stages.
    pub stages: Vec<usize>,
}

impl Method for Fma {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let augmented = perturbed(ctx, x, self.cfg.sigma);
        // Separate passes, as in stability training (each batch norm sees its own batch).
        let (clean_out, aug_out) = (ctx.forward_stages(x, 0), ctx.forward_stages(&augmented, 1));
        let mut fm = Tensor::zeros([], (Kind::Float, x.device()));
        for &s in &self.stages {
            let clean = if self.cfg.detach_clean { clean_out[s].detach() } else { clean_out[s].shallow_clone() };
            fm += distance(&clean, &aug_out[s], self.cfg.distance);
        }
        let (clean_logits, aug_logits) =
            (clean_out[clean_out.len() - 1].shallow_clone(), aug_out[aug_out.len() - 1].shallow_clone());
        let (ce, seen) = match self.cfg.ce {
            FmaCe::Augmented => (ctx.cross_entropy(&aug_logits, y), &aug_logits),
            FmaCe::Clean => (ctx.cross_entropy(&clean_logits, y), &clean_logits),
            FmaCe::Both => {
                ((ctx.cross_entropy(&clean_logits, y) + ctx.cross_entropy(&aug_logits, y)) / 2.0, &aug_logits)
            }
        };
        let what = "FMA (cross-entropy + feature-map distance)";
        let (loss, terms) = ctx.update_with_term(&ce, ("fma", &fm, self.cfg.weight), what)?;
        ctx.after_update(x, y, &clean_logits)?;
        Ok(StepOutput { loss, logits: seen.detach(), terms })
    }
}
