//! FGSM (Goodfellow et al. 2014; docs/methods.md §4.3): one signed-gradient step of size ε on cross-entropy.
use super::entry::{AttackEntry, AttackSpec};
use super::{input_gradient, Attack, AttackBatch, LossKind, Norm, Outcome};
use crate::error::Result;
use crate::models::Network;

/// `fgsm` in the registry: ℓ∞ only, no parameters.
pub const ENTRY: AttackEntry = AttackEntry {
    name: "fgsm",
    summary: "one signed-gradient step of size ε on cross-entropy (Goodfellow et al. 2014)",
    params: &[],
    norms: &[Norm::Linf],
    build,
};

fn build(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    Ok(Box::new(Fgsm { eps: s.eps }))
}

/// x_adv = clip_[0,1](x + ε·sign(∇ₓ CE(f(x), y))).
pub struct Fgsm {
    pub eps: f64,
}

impl Attack for Fgsm {
    fn label(&self) -> String {
        "FGSM".into()
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn norm(&self) -> Norm {
        Norm::Linf
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        let (_, grad, _) = input_gradient(net, b.x, b.y, None, LossKind::Ce, false);
        let adv = tch::no_grad(|| (b.x + grad.sign() * self.eps).clamp(0.0, 1.0));
        Outcome::images(adv)
    }
}
