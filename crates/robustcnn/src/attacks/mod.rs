//! Adversarial attacks (docs/methods.md §4.3): images in [0,1] and labels in, adversarial images in [0,1]
//! inside the budget out. Normalization is inside the model, so budgets are in pixel units. One
//! forward and one input-gradient backward per step; parameter gradients are never computed.
mod apgd;
mod autoattack;
mod budget;
pub mod entry;
mod fab;
mod fab_projection;
mod fgsm;
mod noise;
mod objective;
mod pgd;
pub mod registry;
mod remaining;
mod square;

pub use apgd::{Apgd, ApgdEnsemble};
pub use autoattack::{AutoAttack, Version};
pub use budget::{check_distinct_budgets, check_l2_budget, check_linf_budget, parse_budget, step_warnings, Budget};
pub use entry::{AttackEntry, AttackSpec, Param, Setting};
pub use fab::Fab;
pub use fab_projection::{l2 as fab_projection_l2, linf as fab_projection_linf};
pub use fgsm::Fgsm;
pub use noise::start_noise;
pub use objective::{objective, LossKind};
pub use pgd::{Pgd, Target};
pub use registry::{AttackRequest, ATTACKS};
pub use square::Square;

use crate::error::{Error, Result};
use crate::models::Network;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The threat model's norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    Linf,
    L2,
}

impl Norm {
    pub fn parse(s: &str) -> Result<Norm> {
        match s {
            "linf" | "Linf" | "inf" => Ok(Norm::Linf),
            "l2" | "L2" => Ok(Norm::L2),
            _ => Err(Error::Config(format!("--norm {s}: expected linf or l2"))),
        }
    }
    pub fn symbol(self) -> &'static str {
        match self {
            Norm::Linf => "ℓ∞",
            Norm::L2 => "ℓ2",
        }
    }
}

/// The images a batch of an attack works on, with stable per-sample ids for its random draws.
pub struct AttackBatch<'a> {
    pub x: &'a Tensor,
    pub y: &'a Tensor,
    /// One id per sample (e.g. its test-set index), so random starts do not depend on batching.
    pub ids: &'a [u64],
    pub seed: u64,
}

/// What an attack returns: the adversarial images, the per-sample targets of a targeted attack, for
/// multi-restart attacks whether each restart on its own fooled each sample (restart agreement), and
/// for an ensemble which of its attacks broke each sample.
pub struct Outcome {
    pub adv: Tensor,
    pub targets: Option<Tensor>,
    pub restart_fooled: Vec<Vec<bool>>,
    pub stages: Option<Stages>,
}

/// An ensemble's attacks in the order they ran, the seconds each took, and per sample the index of
/// the one that broke it.
pub struct Stages {
    pub names: Vec<String>,
    pub seconds: Vec<f64>,
    pub broken_by: Vec<Option<usize>>,
}

impl Outcome {
    /// An untargeted, single-run outcome.
    pub fn images(adv: Tensor) -> Outcome {
        Outcome { adv, targets: None, restart_fooled: Vec::new(), stages: None }
    }
}

/// One attack with one budget: the contract torchattacks made familiar (docs/extending.md).
pub trait Attack {
    /// A name for tables, e.g. "PGD-20".
    fn label(&self) -> String;
    fn eps(&self) -> f64;
    fn norm(&self) -> Norm;
    /// Adversarial images for `b`, with the model in the mode the attack was built for (eval for evaluation).
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome;
}

/// The per-sample objective at `x`, its input gradient, and the logits, with no parameter gradient.
/// Gradient recording is switched on here, so callers inside `no_grad` get a gradient too.
pub fn input_gradient(
    net: &Network,
    x: &Tensor,
    y: &Tensor,
    target: Option<&Tensor>,
    loss: LossKind,
    train: bool,
) -> (Tensor, Tensor, Tensor) {
    tch::with_grad(|| {
        let xg = x.detach().set_requires_grad(true);
        let logits = net.forward(&xg, train);
        let obj = objective(&logits, y, target, loss);
        let grad = Tensor::run_backward(&[obj.sum(obj.kind())], &[&xg], false, false).remove(0);
        (obj.detach(), grad, logits.detach())
    })
}

/// Per-sample L2 norm of a batch, shaped N×1×1×1 for broadcasting.
pub fn l2_norms(t: &Tensor) -> Tensor {
    let n = t.size()[0];
    t.reshape([n, -1]).norm_scalaropt_dim(2, [1i64].as_slice(), false).reshape([n, 1, 1, 1])
}

/// Projects `adv` onto the `norm` ball of radius `eps` about `x`, intersected with [0,1].
pub fn project(adv: &Tensor, x: &Tensor, eps: f64, norm: Norm) -> Tensor {
    match norm {
        Norm::Linf => adv.maximum(&(x - eps)).minimum(&(x + eps)).clamp(0.0, 1.0),
        Norm::L2 => {
            let d = adv - x;
            let scale = (eps / (l2_norms(&d) + 1e-12)).clamp_max(1.0);
            (x + d * scale).clamp(0.0, 1.0)
        }
    }
}

/// The steepest-ascent direction of a gradient under `norm`: its sign (ℓ∞) or its unit vector (ℓ2).
pub fn ascent_direction(grad: &Tensor, norm: Norm) -> Tensor {
    match norm {
        Norm::Linf => grad.sign(),
        Norm::L2 => grad / (l2_norms(grad) + 1e-12),
    }
}

/// Predicted classes of the model on `x` (no gradient).
pub fn predict(net: &Network, x: &Tensor) -> Tensor {
    tch::no_grad(|| net.forward(x, false).argmax(-1, false))
}

/// A boolean tensor as a host vector.
pub fn to_bools(t: &Tensor) -> Vec<bool> {
    Vec::<bool>::try_from(&t.to_device(tch::Device::Cpu).to_kind(Kind::Bool)).unwrap_or_default()
}
