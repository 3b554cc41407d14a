//! FAB, the fast adaptive boundary attack (Croce & Hein ICML 2020; docs/methods.md §4.3), untargeted
//! and targeted (FAB-T), ℓ∞ and ℓ2, as AutoAttack runs it. Each step linearises the decision boundary
//! nearest to the current point, projects both the current point and the clean image onto it
//! ([`super::fab_projection`]), moves to a convex combination of the two (weight at most α_max) with
//! overshoot η, and after every success steps back towards the clean image by β. It keeps the
//! smallest adversarial perturbation found; a point counts as fooled only within the budget ε.
use super::entry::{AttackEntry, AttackSpec, Param};
use super::remaining::{clean_start, Remaining};
use super::{fab_projection, l2_norms, predict, start_noise, Attack, AttackBatch, Norm, Outcome};
use crate::error::Result;
use crate::models::Network;
use tch::{Kind, Tensor};

const ITERS: Param = Param { key: "iters", default: "100", help: "iterations per run (AutoAttack: 100)" };
const ALPHA_MAX: Param =
    Param { key: "alpha_max", default: "0.1", help: "largest weight of the clean image's projection" };
const ETA: Param = Param { key: "eta", default: "1.05", help: "overshoot of each projection" };
const BETA: Param =
    Param { key: "beta", default: "0.9", help: "backward step towards the clean image after a success" };

/// `fab` in the registry: untargeted FAB (AutoAttack's plus version runs it with 5 restarts).
pub const FAB: AttackEntry = AttackEntry {
    name: "fab",
    summary: "FAB (Croce & Hein 2020): minimal-norm steps onto the nearest linearised boundary, untargeted; \
              one backward pass per class per iteration",
    params: &[
        ITERS,
        Param { key: "restarts", default: "1", help: "runs; the second and later start at random within ε/2" },
        ALPHA_MAX,
        ETA,
        BETA,
    ],
    norms: &[Norm::Linf, Norm::L2],
    build: build_untargeted,
};

/// `fab-t` in the registry: FAB-T towards each of the most likely other classes, AutoAttack's standard settings.
pub const FAB_T: AttackEntry = AttackEntry {
    name: "fab-t",
    summary: "FAB-T: FAB towards each of the top other classes in turn (AutoAttack standard: 9 targets, 1 run each)",
    params: &[
        ITERS,
        Param { key: "restarts", default: "1", help: "runs per target" },
        Param { key: "targets", default: "9", help: "target classes (AutoAttack: 9)" },
        ALPHA_MAX,
        ETA,
        BETA,
    ],
    norms: &[Norm::Linf, Norm::L2],
    build: build_targeted,
};

fn number(s: &AttackSpec, key: &str, ok: impl Fn(f64) -> bool, what: &str) -> Result<f64> {
    match s.text(key).parse::<f64>() {
        Ok(v) if ok(v) => Ok(v),
        _ => Err(s.error(key, what)),
    }
}

fn build(s: &AttackSpec, targets: usize) -> Result<Fab> {
    Ok(Fab {
        eps: s.eps,
        norm: s.norm,
        iters: s.count("iters", 1, "FAB needs at least 1 iteration")?,
        restarts: s.count("restarts", 1, "at least 1 run is needed")?,
        targets,
        alpha_max: number(s, "alpha_max", |v| (0.0..=1.0).contains(&v), "expected a number in [0, 1]")?,
        eta: number(s, "eta", |v| v >= 1.0 && v.is_finite(), "expected a number of at least 1")?,
        beta: number(s, "beta", |v| (0.0..=1.0).contains(&v), "expected a number in [0, 1]")?,
    })
}

fn build_untargeted(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    Ok(Box::new(build(s, 0)?))
}

fn build_targeted(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    Ok(Box::new(build(s, s.target_count()?)?))
}

/// Noise streams of the random starts: restart r of target k draws stream FAB + k·1000 + r.
const FAB_STREAM: u64 = 0x4641_4221;

/// One FAB attack: untargeted (`targets` 0) or FAB-T over the `targets` most likely other classes.
#[derive(Clone, Debug)]
pub struct Fab {
    pub eps: f64,
    pub norm: Norm,
    pub iters: usize,
    pub restarts: usize,
    pub targets: usize,
    pub alpha_max: f64,
    pub eta: f64,
    pub beta: f64,
}

impl Fab {
    /// AutoAttack's FAB-T: 100 iterations, 9 targets (fewer if the data has fewer classes), 1 run each.
    pub fn targeted(eps: f64, norm: Norm, num_classes: i64) -> Fab {
        let targets = (num_classes as usize).saturating_sub(1).min(9);
        Fab { eps, norm, iters: 100, restarts: 1, targets, alpha_max: 0.1, eta: 1.05, beta: 0.9 }
    }

    /// Untargeted FAB with AutoAttack's parameters and `restarts` runs.
    pub fn untargeted(eps: f64, norm: Norm, restarts: usize) -> Fab {
        Fab { targets: 0, restarts, ..Fab::targeted(eps, norm, 10) }
    }

    /// Per-sample size of a perturbation in this attack's norm.
    fn size(&self, d: &Tensor) -> Tensor {
        let n = d.size()[0];
        match self.norm {
            Norm::Linf => d.abs().reshape([n, -1]).amax([1i64].as_slice(), false),
            Norm::L2 => l2_norms(d).reshape([n]),
        }
    }

    /// The random start of restarts after the first: uniform (ℓ∞) or Gaussian (ℓ2) noise of size ε/2.
    fn start(&self, x: &Tensor, ids: &[u64], seed: u64, stream: u64) -> Tensor {
        let t = start_noise(x, ids, seed, stream, self.norm == Norm::L2);
        let n = x.size()[0];
        let scale = match self.norm {
            Norm::Linf => t.abs().reshape([n, -1]).amax([1i64].as_slice(), true).reshape([n, 1, 1, 1]),
            Norm::L2 => l2_norms(&t),
        };
        (x + t * (0.5 * self.eps) / (scale + 1e-12)).clamp(0.0, 1.0)
    }

    /// `attack_single_run`: from `start`, the smallest adversarial perturbation found per point, as
    /// the adversarial images and their sizes (1e10 where none was found; the image stays clean).
    pub fn minimal(
        &self,
        net: &Network,
        x: &Tensor,
        y: &Tensor,
        target: Option<&Tensor>,
        start: Tensor,
    ) -> (Tensor, Tensor) {
        let n = x.size()[0];
        let x0 = x.reshape([n, -1]);
        let mut x1 = start;
        let mut adv = x.copy();
        let mut res = Tensor::full([n], 1e10, (Kind::Float, x.device()));
        let rows = |t: &Tensor| t.reshape([n, 1, 1, 1]);
        for _ in 0..self.iters {
            let (df, dg) = match target {
                None => boundary_all(net, &x1, y),
                Some(t) => boundary_towards(net, &x1, y, t),
            };
            tch::no_grad(|| {
                let flat = dg.flatten(2, -1);
                let dual = match self.norm {
                    Norm::Linf => flat.abs().sum_dim_intlist([2i64].as_slice(), false, Kind::Float),
                    Norm::L2 => flat.square().sum_dim_intlist([2i64].as_slice(), false, Kind::Float).sqrt(),
                };
                let nearest = (df.abs() / (dual + 1e-12)).argmin(1, false).unsqueeze(1);
                let dims = flat.size()[2];
                let w = flat.gather(1, &nearest.unsqueeze(2).expand([n, 1, dims], false), false).squeeze_dim(1);
                let x1f = x1.reshape([n, -1]);
                let b = -df.gather(1, &nearest, false).squeeze_dim(1)
                    + (&w * &x1f).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
                let (points, w2, b2) =
                    (Tensor::cat(&[&x1f, &x0], 0), Tensor::cat(&[&w, &w], 0), Tensor::cat(&[&b, &b], 0));
                let d3 = match self.norm {
                    Norm::Linf => fab_projection::linf(&points, &w2, &b2),
                    Norm::L2 => fab_projection::l2(&points, &w2, &b2),
                };
                let a0 = self.size(&d3.reshape([2 * n, 1, 1, -1])).clamp_min(1e-8);
                let (a1, a2) = (rows(&a0.narrow(0, 0, n)), rows(&a0.narrow(0, n, n)));
                let alpha = (&a1 / (&a1 + &a2)).clamp(0.0, self.alpha_max);
                let (d1, d2) = (d3.narrow(0, 0, n).reshape_as(x), d3.narrow(0, n, n).reshape_as(x));
                x1 = ((&x1 + d1 * self.eta) * (-&alpha + 1.0) + (x + d2 * self.eta) * &alpha).clamp(0.0, 1.0);
                let fooled = predict(net, &x1).ne_tensor(y);
                let size = self.size(&(&x1 - x));
                let better = fooled.logical_and(&size.lt_tensor(&res));
                adv = x1.where_self(&rows(&better), &adv);
                res = size.where_self(&better, &res);
                x1 = (x + (&x1 - x) * self.beta).where_self(&rows(&fooled), &x1);
            });
        }
        (adv, res)
    }

    /// Runs every target and restart on the points of the batch still in `robust`, updating it and `adv`.
    fn attack_remaining(&self, net: &Network, b: &AttackBatch, robust: &mut Tensor, adv: &mut Tensor) {
        let rounds: Vec<usize> = if self.targets == 0 { vec![0] } else { (1..=self.targets).collect() };
        for &t in &rounds {
            for r in 0..self.restarts.max(1) {
                let Some(rem) = Remaining::of(b, robust) else { return };
                let (x, y) = (&rem.x, &rem.y);
                // The t-th most likely class other than the top one on the clean image.
                let target =
                    (t > 0).then(|| tch::no_grad(|| net.forward(x, false)).argsort(1, true).select(1, t as i64));
                let stream = FAB_STREAM + 1000 * t as u64 + r as u64;
                let start = if r == 0 { x.copy() } else { self.start(x, &rem.ids, b.seed, stream) };
                let (found, _) = self.minimal(net, x, y, target.as_ref(), start);
                let fooled = tch::no_grad(|| {
                    let within = self.size(&(&found - x)).le(self.eps * (1.0 + 1e-6));
                    predict(net, &found).ne_tensor(y).logical_and(&within)
                });
                rem.record(&fooled, &found, robust, adv);
            }
        }
    }
}

/// Untargeted FAB's linearisation: for every class k, f_k − f_y and ∇(f_k − f_y) at `x` (N×K and
/// N×K×C×H×W), with f_y − f_y set to 1e10 so the true class is never the nearest boundary. One
/// backward pass per class, as `get_diff_logits_grads_batch` does.
fn boundary_all(net: &Network, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
    tch::with_grad(|| {
        let xg = x.detach().set_requires_grad(true);
        let logits = net.forward(&xg, false).to_kind(Kind::Float);
        let classes = logits.size()[1];
        let grads: Vec<Tensor> = (0..classes)
            .map(|k| {
                let total = logits.select(1, k).sum(Kind::Float);
                Tensor::run_backward(&[total], &[&xg], k + 1 < classes, false).remove(0)
            })
            .collect();
        let g = Tensor::stack(&grads, 1);
        let logits = logits.detach();
        let yi = y.unsqueeze(1);
        let df = (&logits - logits.gather(1, &yi, false)).scatter_value(1, &yi, 1e10);
        let shape: Vec<i64> = [x.size()[0], 1].into_iter().chain(x.size()[1..].iter().copied()).collect();
        let gy = g.gather(1, &y.reshape([-1, 1, 1, 1, 1]).expand(shape.as_slice(), false), false);
        (df, g - gy)
    })
}

/// FAB-T's linearisation towards `target`: f_t − f_y and its gradient (N×1 and N×1×C×H×W).
fn boundary_towards(net: &Network, x: &Tensor, y: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
    tch::with_grad(|| {
        let xg = x.detach().set_requires_grad(true);
        let logits = net.forward(&xg, false).to_kind(Kind::Float);
        let diff = logits.gather(1, &target.unsqueeze(1), false) - logits.gather(1, &y.unsqueeze(1), false);
        let grad = Tensor::run_backward(&[diff.sum(Kind::Float)], &[&xg], false, false).remove(0);
        (diff.detach(), grad.unsqueeze(1))
    })
}

impl Attack for Fab {
    fn label(&self) -> String {
        match self.targets {
            0 => "FAB".into(),
            _ => "FAB-T".into(),
        }
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn norm(&self) -> Norm {
        self.norm
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        let (mut adv, mut robust) = clean_start(net, b);
        self.attack_remaining(net, b, &mut robust, &mut adv);
        Outcome::images(adv)
    }
}
