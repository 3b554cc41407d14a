//! APGD (Croce & Hein 2020, `fra31/auto-attack` `apgd`; docs/methods.md §4.3): step size 2ε halved at
//! checkpoints where progress stalls, momentum 0.75, best point kept. APGD-CE is untargeted on
//! cross-entropy; APGD-T is targeted on the DLR loss, one run per target among the top classes.
//! [`ApgdEnsemble`] runs them the AutoAttack way and is reported as "APGD-CE + APGD-T", never AutoAttack.
use super::entry::{AttackEntry, AttackSpec, Param};
use super::remaining::{clean_start, Remaining};
use super::{
    ascent_direction, input_gradient, l2_norms, project, start_noise, Attack, AttackBatch, LossKind, Norm, Outcome,
};
use crate::error::{Error, Result};
use crate::models::Network;
use tch::{Kind, Tensor};

const ITERS: Param = Param { key: "iters", default: "100", help: "iterations per run (AutoAttack: 100)" };
const RESTARTS: Param = Param { key: "restarts", default: "1", help: "runs from new random starts" };

/// `apgd-ce` in the registry: untargeted APGD on cross-entropy, AutoAttack's standard settings.
pub const APGD_CE: AttackEntry = AttackEntry {
    name: "apgd-ce",
    summary: "APGD on cross-entropy, untargeted (Croce & Hein 2020)",
    params: &[ITERS, RESTARTS],
    norms: &[Norm::Linf, Norm::L2],
    build: build_ce,
};

/// `apgd-dlr` in the registry: untargeted APGD on the DLR loss (AutoAttack's plus and rand versions).
pub const APGD_DLR: AttackEntry = AttackEntry {
    name: "apgd-dlr",
    summary: "APGD on the DLR loss, untargeted (shift- and scale-invariant in the logits)",
    params: &[ITERS, RESTARTS],
    norms: &[Norm::Linf, Norm::L2],
    build: build_dlr,
};

/// `apgd-t` in the registry: targeted APGD on the DLR loss over the most likely other classes.
pub const APGD_T: AttackEntry = AttackEntry {
    name: "apgd-t",
    summary: "APGD on the targeted DLR loss, one run per target among the top classes",
    params: &[ITERS, RESTARTS, Param { key: "targets", default: "9", help: "target classes (AutoAttack: 9)" }],
    norms: &[Norm::Linf, Norm::L2],
    build: build_t,
};

/// `apgd` in the registry: APGD-CE, then APGD-T on the survivors (reported as "APGD-CE + APGD-T").
pub const APGD_PAIR: AttackEntry = AttackEntry {
    name: "apgd",
    summary: "APGD-CE, then APGD-T on the points it did not fool (not AutoAttack, which adds FAB-T and Square)",
    params: &[ITERS],
    norms: &[Norm::Linf, Norm::L2],
    build: build_pair,
};

fn build_ce(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    let iters = s.count("iters", 1, "APGD needs at least 1 iteration")?;
    let restarts = s.count("restarts", 1, "at least 1 run is needed")?;
    Ok(Box::new(Apgd { restarts, ..Apgd::ce(s.eps, s.norm, iters) }))
}

fn build_dlr(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    if s.num_classes < 3 {
        return Err(Error::Config(format!(
            "the DLR loss needs at least 3 classes; this dataset has {}",
            s.num_classes
        )));
    }
    let iters = s.count("iters", 1, "APGD needs at least 1 iteration")?;
    let restarts = s.count("restarts", 1, "at least 1 run is needed")?;
    Ok(Box::new(Apgd { restarts, loss: LossKind::Dlr, ..Apgd::ce(s.eps, s.norm, iters) }))
}

/// The targeted DLR loss compares the true class with the target and the third-largest logit.
fn check_dlr_classes(classes: i64) -> Result<()> {
    if classes < 4 {
        return Err(Error::Config(format!("the DLR loss needs at least 4 classes; this dataset has {classes}")));
    }
    Ok(())
}

fn build_t(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    check_dlr_classes(s.num_classes)?;
    let iters = s.count("iters", 1, "APGD needs at least 1 iteration")?;
    let restarts = s.count("restarts", 1, "at least 1 run is needed")?;
    let targets = s.target_count()?;
    Ok(Box::new(Apgd { restarts, targets, ..Apgd::targeted(s.eps, s.norm, iters, s.num_classes) }))
}

fn build_pair(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    check_dlr_classes(s.num_classes)?;
    let iters = s.count("iters", 1, "APGD needs at least 1 iteration")?;
    Ok(Box::new(ApgdEnsemble::new(s.eps, s.norm, iters, s.num_classes)))
}

/// Momentum of the update, α in the paper (0.75 for ℓ∞ and ℓ2).
const MOMENTUM: f64 = 0.75;
/// Noise streams: restart r of target k draws stream APGD + k·1000 + r.
const APGD: u64 = 0x4150_4744;

/// One APGD attack: untargeted (APGD-CE with `Ce`, or APGD-DLR) or targeted (APGD-T, DLR loss).
#[derive(Clone, Debug)]
pub struct Apgd {
    pub eps: f64,
    pub norm: Norm,
    pub iters: usize,
    pub restarts: usize,
    pub loss: LossKind,
    /// Targeted on the DLR loss, towards each of this many most likely other classes (0: untargeted).
    pub targets: usize,
    /// ρ: a checkpoint halves the step size where fewer than ρ·k of the last k steps increased the loss.
    pub rho: f64,
    /// Expectation over transformation: gradients averaged over this many forward passes (1: none),
    /// for randomised models (AutoAttack's rand version: 20).
    pub eot: usize,
}

impl Apgd {
    /// APGD-CE as in AutoAttack's standard version: 100 iterations, 1 restart.
    pub fn ce(eps: f64, norm: Norm, iters: usize) -> Apgd {
        Apgd { eps, norm, iters, restarts: 1, loss: LossKind::Ce, targets: 0, rho: 0.75, eot: 1 }
    }
    /// APGD-T as in AutoAttack's standard version: DLR loss, 9 target classes (fewer if the data has fewer).
    pub fn targeted(eps: f64, norm: Norm, iters: usize, num_classes: i64) -> Apgd {
        let targets = (num_classes as usize).saturating_sub(1).min(9);
        Apgd { eps, norm, iters, restarts: 1, loss: LossKind::Dlr, targets, rho: 0.75, eot: 1 }
    }

    /// The first point: uniform (ℓ∞, scaled so its largest entry is ε) or Gaussian (ℓ2, norm ε).
    fn start(&self, b: &AttackBatch, x: &Tensor, ids: &[u64], stream: u64) -> Tensor {
        let n = x.size()[0];
        let t = start_noise(x, ids, b.seed, stream, self.norm == Norm::L2);
        let scale = match self.norm {
            Norm::Linf => t.abs().reshape([n, -1]).amax([1i64].as_slice(), true).reshape([n, 1, 1, 1]),
            Norm::L2 => l2_norms(&t),
        };
        (x + t * self.eps / (scale + 1e-12)).clamp(0.0, 1.0)
    }

    /// The objective, its input gradient averaged over `eot` draws (summed in f64, so a deterministic
    /// model gives exactly the single-draw gradient), and the last draw's logits.
    fn gradient(&self, net: &Network, x: &Tensor, y: &Tensor, target: Option<&Tensor>) -> (Tensor, Tensor, Tensor) {
        let (loss, grad, logits) = input_gradient(net, x, y, target, self.loss, false);
        if self.eot <= 1 {
            return (loss, grad, logits);
        }
        let mut sum = grad.to_kind(Kind::Double);
        let mut last = (loss, logits);
        for _ in 1..self.eot {
            let (l, g, z) = input_gradient(net, x, y, target, self.loss, false);
            sum += g.to_kind(Kind::Double);
            last = (l, z);
        }
        (last.0, (sum / self.eot as f64).to_kind(grad.kind()), last.1)
    }

    /// `attack_single_run` of auto-attack: returns, per sample, whether it stayed correctly
    /// classified throughout, and the last iterate that fooled the model (the start where none did).
    fn single_run(
        &self,
        net: &Network,
        x: &Tensor,
        y: &Tensor,
        target: Option<&Tensor>,
        start: Tensor,
    ) -> (Tensor, Tensor) {
        let n = x.size()[0];
        let iters = self.iters.max(1);
        let checkpoint_first = ((0.22 * iters as f64) as usize).max(1);
        let checkpoint_min = ((0.06 * iters as f64) as usize).max(1);
        let size_decrease = ((0.03 * iters as f64) as usize).max(1);
        let mut adv = start;
        let mut best_adv = adv.shallow_clone();
        let (mut loss, mut grad, logits) = self.gradient(net, &adv, y, target);
        let mut acc = logits.argmax(-1, false).eq_tensor(y);
        let mut best = adv.shallow_clone();
        let mut grad_best = grad.shallow_clone();
        let mut loss_best = loss.shallow_clone();
        let mut step = Tensor::full([n, 1, 1, 1], 2.0 * self.eps, (Kind::Float, x.device()));
        let mut adv_old = adv.shallow_clone();
        let mut k = checkpoint_first;
        let mut since_check = 0;
        let mut loss_best_last_check = loss_best.shallow_clone();
        let mut reduced_last_check = acc.ones_like().to_kind(Kind::Bool);
        let mut loss_steps: Vec<Tensor> = (0..iters).map(|_| loss.zeros_like()).collect();
        for i in 0..iters {
            adv = tch::no_grad(|| {
                let grad2 = &adv - &adv_old;
                adv_old = adv.shallow_clone();
                let a = if i > 0 { MOMENTUM } else { 1.0 };
                let z = project(&(&adv + &step * ascent_direction(&grad, self.norm)), x, self.eps, self.norm);
                project(&(&adv + (&z - &adv) * a + grad2 * (1.0 - a)), x, self.eps, self.norm)
            });
            let (l, g, logits) = self.gradient(net, &adv, y, target);
            (loss, grad) = (l, g);
            tch::no_grad(|| {
                let correct = logits.argmax(-1, false).eq_tensor(y);
                best_adv = best_adv.where_self(&correct.view([-1, 1, 1, 1]), &adv);
                acc = acc.logical_and(&correct);
                loss_steps[i] = loss.shallow_clone();
                let improved = loss.gt_tensor(&loss_best);
                let m = improved.view([-1, 1, 1, 1]);
                best = adv.where_self(&m, &best);
                grad_best = grad.where_self(&m, &grad_best);
                loss_best = loss.where_self(&improved, &loss_best);
                since_check += 1;
                if since_check == k {
                    let oscillating = oscillation(&loss_steps, i, k, self.rho);
                    let no_improvement =
                        reduced_last_check.logical_not().logical_and(&loss_best_last_check.ge_tensor(&loss_best));
                    let reduce = oscillating.logical_or(&no_improvement);
                    reduced_last_check = reduce.shallow_clone();
                    loss_best_last_check = loss_best.shallow_clone();
                    let m = reduce.view([-1, 1, 1, 1]);
                    step = (&step * 0.5).where_self(&m, &step);
                    adv = best.where_self(&m, &adv);
                    grad = grad_best.where_self(&m, &grad);
                    k = k.saturating_sub(size_decrease).max(checkpoint_min);
                    since_check = 0;
                }
            });
        }
        (acc, best_adv)
    }

    /// Runs restarts (and targets) on the points of `x` still in `robust`, updating it and `adv`.
    fn attack_remaining(&self, net: &Network, b: &AttackBatch, robust: &mut Tensor, adv: &mut Tensor) {
        let rounds: Vec<usize> = if self.targets == 0 { vec![0] } else { (1..=self.targets).collect() };
        for &t in &rounds {
            for r in 0..self.restarts.max(1) {
                let Some(rem) = Remaining::of(b, robust) else { return };
                let target = (t > 0).then(|| {
                    // The t-th most likely class other than the top one on the clean image.
                    tch::no_grad(|| net.forward(&rem.x, false)).argsort(1, true).select(1, t as i64)
                });
                let start = self.start(b, &rem.x, &rem.ids, APGD + 1000 * t as u64 + r as u64);
                let (acc, found) = self.single_run(net, &rem.x, &rem.y, target.as_ref(), start);
                rem.record(&acc.logical_not(), &found, robust, adv);
            }
        }
    }
}

/// `check_oscillation`: per sample, true where at most ρ·k of the last k steps increased the loss.
/// Index −1 wraps to the last (still zero) entry, as in the reference code.
fn oscillation(loss_steps: &[Tensor], j: usize, k: usize, rho: f64) -> Tensor {
    let n = loss_steps.len() as isize;
    let at = |i: isize| &loss_steps[i.rem_euclid(n) as usize];
    let mut count = loss_steps[0].zeros_like();
    for c in 0..k as isize {
        count += at(j as isize - c).gt_tensor(at(j as isize - c - 1)).to_kind(Kind::Float);
    }
    count.le(k as f64 * rho)
}

impl Attack for Apgd {
    fn label(&self) -> String {
        match self.targets {
            0 => format!("APGD-{}", self.loss.name()),
            _ => "APGD-T".into(),
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

/// APGD-CE, then APGD-T on the points APGD-CE did not fool: robust accuracy is what survives both.
#[derive(Clone, Debug)]
pub struct ApgdEnsemble {
    pub ce: Apgd,
    pub targeted: Apgd,
}

impl ApgdEnsemble {
    pub fn new(eps: f64, norm: Norm, iters: usize, num_classes: i64) -> ApgdEnsemble {
        ApgdEnsemble { ce: Apgd::ce(eps, norm, iters), targeted: Apgd::targeted(eps, norm, iters, num_classes) }
    }
}

impl Attack for ApgdEnsemble {
    fn label(&self) -> String {
        "APGD-CE + APGD-T".into()
    }
    fn eps(&self) -> f64 {
        self.ce.eps
    }
    fn norm(&self) -> Norm {
        self.ce.norm
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        let (mut adv, mut robust) = clean_start(net, b);
        self.ce.attack_remaining(net, b, &mut robust, &mut adv);
        self.targeted.attack_remaining(net, b, &mut robust, &mut adv);
        Outcome::images(adv)
    }
}
