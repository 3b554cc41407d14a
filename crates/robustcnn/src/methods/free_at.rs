//! Free adversarial training (Shafahi et al. 2019; docs/methods.md §2.9 and §4.3): each mini-batch is
//! replayed m times; one backward pass gives the weight gradient, used for an optimizer step, and the
//! input gradient, used for an FGSM step of size ε on a perturbation δ that is carried over to the next
//! mini-batch. Images stay in [0,1] (normalization is inside the model), so unlike TENET's released
//! code nothing is normalized twice.
use super::adversarial::{budget, AdversarialConfig};
use super::entry::{Build, MethodInfo};
use super::{Method, MethodConfig, StepContext, StepOutput};
use crate::error::{Error, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

pub const ENTRY: MethodInfo = MethodInfo {
    single_label: Some("its attack ascends the single-label cross-entropy"),
    section: Some(super::entry::section::<AdversarialConfig>()),
    resolve: Some(fill_defaults),
    ..MethodInfo::new(
        "free-at",
        "free adversarial training (Shafahi et al. 2019): each batch replayed m = 8 times, perturbation carried over",
        Build::Step(|m, _, _| {
            let a: AdversarialConfig = m.get_or_default();
            let eps = a.eps.as_ref().map_or(0.0, |b| b.value);
            Ok(Box::new(FreeAt::new(eps, a.replays.unwrap_or(8), a.grad_clip)))
        }),
    )
};

/// Free-AT's defaults, ε 8/255 and m = 8, for what the recipe left unset.
fn fill_defaults(m: &mut MethodConfig, _: &super::Composition) {
    let mut a: AdversarialConfig = m.get_or_default();
    a.eps = a.eps.take().or_else(|| budget("8/255"));
    a.replays = a.replays.or(Some(8));
    m.set(&a);
}

const DELTA: &str = "method.free_at.delta";

pub struct FreeAt {
    eps: f64,
    replays: usize,
    grad_clip: Option<f64>,
    /// δ, shaped like the largest batch seen; a smaller batch uses its first rows.
    delta: Option<Tensor>,
}

impl FreeAt {
    pub fn new(eps: f64, replays: usize, grad_clip: Option<f64>) -> FreeAt {
        FreeAt { eps, replays, grad_clip, delta: None }
    }
}

impl Method for FreeAt {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let n = x.size()[0];
        if let Some(d) = self.delta.take() {
            self.delta = Some(d.to_device(x.device()));
        }
        // A carried buffer of another shape or type (another batch, a foreign checkpoint) starts over.
        let fits = self.delta.as_ref().is_some_and(|d| {
            d.dim() == x.dim() && d.kind() == Kind::Float && d.size()[0] >= n && d.size()[1..] == x.size()[1..]
        });
        if !fits {
            self.delta = Some(Tensor::zeros(x.size(), (Kind::Float, x.device())));
        }
        let buffer = self.delta.as_ref().map(|d| d.narrow(0, 0, n)).unwrap_or_else(|| x.zeros_like());
        let mut out = Err(Error::Config("method.adversarial.replays must be at least 1".into()));
        for r in 0..self.replays {
            let delta = buffer.detach().copy().set_requires_grad(true);
            let adv = (x + &delta).clamp(0.0, 1.0);
            let logits = ctx.forward(&adv, r as u64 + 1);
            let loss = ctx.cross_entropy(&logits, y);
            let value = ctx.update(&loss, "free adversarial cross-entropy", self.grad_clip)?;
            tch::no_grad(|| {
                let next = (&delta + delta.grad().sign() * self.eps).clamp(-self.eps, self.eps);
                buffer.shallow_clone().copy_(&next);
            });
            // TENET's free-AT loop runs its step after every replay, on the replay's inputs.
            ctx.after_update(&adv.detach(), y, &logits)?;
            out =
                Ok(StepOutput { loss: loss.detach(), logits: logits.detach(), terms: vec![("adv_ce".into(), value)] });
        }
        out
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.delta.iter().map(|d| (DELTA.to_string(), d.shallow_clone())).collect()
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>) {
        self.delta = tensors.get(DELTA).map(|d| d.shallow_clone());
    }
}
