//! PGD (Madry et al. 2017; docs/methods.md §4.3): random start in the ball, then steps of size α along the
//! steepest-ascent direction, projected back onto the ε-ball ∩ [0,1]; ℓ∞ or ℓ2; restarts keep the worst
//! case per sample.
use super::entry::{AttackEntry, AttackSpec, Param};
use super::{
    ascent_direction, input_gradient, l2_norms, project, start_noise, to_bools, Attack, AttackBatch, LossKind, Norm,
    Outcome,
};
use crate::error::{Error, Result};
use crate::models::Network;
use crate::rng::rng_for;
use rand::Rng;
use tch::{Kind, Tensor};

/// `pgd` in the registry, with the evaluation defaults of docs/methods.md (20 steps of ε/4 from a
/// random start, cross-entropy, untargeted).
pub const ENTRY: AttackEntry = AttackEntry {
    name: "pgd",
    summary: "projected gradient descent from a random start in the ball (Madry et al. 2017)",
    params: &[
        Param { key: "steps", default: "20", help: "steps" },
        Param { key: "alpha", default: "eps/4", help: "step size: eps/K, eps*F or absolute (2/255)" },
        Param { key: "restarts", default: "1", help: "random restarts; the worst case per sample is kept" },
        Param { key: "loss", default: "ce", help: "ce, cw (margin) or dlr" },
        Param { key: "target", default: "none", help: "none, random, least-likely or a class index" },
        Param { key: "random_start", default: "true", help: "start at a random point of the ball" },
    ],
    norms: &[Norm::Linf, Norm::L2],
    build,
};

fn build(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    let steps = s.count("steps", 1, "PGD needs at least 1 step")?;
    let alpha = s.step("alpha")?;
    let restarts = s.count("restarts", 1, "at least 1 run is needed")?;
    let loss = LossKind::parse(s.text("loss")).map_err(|_| s.error("loss", "expected ce, cw (margin) or dlr"))?;
    let classes = s.num_classes;
    let target = Target::parse(s.text("target"), classes).map_err(|e| s.error("target", &e))?;
    if loss == LossKind::Dlr {
        let min = if target == Target::Untargeted { 3 } else { 4 };
        if classes < min {
            return Err(Error::Config(format!(
                "the DLR loss needs at least {min} classes; this dataset has {classes}"
            )));
        }
    }
    let random_start = s.flag("random_start")?;
    Ok(Box::new(Pgd {
        alpha,
        steps,
        norm: s.norm,
        random_start,
        restarts,
        loss,
        target,
        alpha_text: named_step(s.text("alpha")),
        ..Pgd::linf(s.eps, alpha, steps, classes)
    }))
}

/// A step size the label names: any but ε/4 (`eps/4`, `eps*0.25`), the default. An absolute step
/// (`2/255`) is always named, so that one attack keeps one label at every budget.
fn named_step(text: &str) -> Option<String> {
    let t = text.trim();
    let factor = match t.strip_prefix("eps").or_else(|| t.strip_prefix("ε")).map(str::trim) {
        Some(r) => match r.split_at(r.len().min(1)) {
            ("/", k) => k.trim().parse::<f64>().ok().map(|k| 1.0 / k),
            ("*", f) => f.trim().parse::<f64>().ok(),
            _ => None,
        },
        None => None,
    };
    match factor {
        Some(f) if (f - 0.25).abs() < 1e-12 => None,
        _ => Some(t.replace("eps", "ε")),
    }
}

const TARGET_DRAW: u64 = 0x5441_5247;
/// Noise stream offset of the ℓ2 start radius (restart r draws stream RADIUS + r).
const RADIUS: u64 = 1 << 32;

/// Untargeted, or towards a target class chosen per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Untargeted,
    /// The same class for every sample (a sample already of that class counts as reached if it stays).
    Class(i64),
    /// A class other than the true one, drawn per sample from (seed, sample id).
    Random,
    /// The class the model finds least likely on the clean image.
    LeastLikely,
}

impl Target {
    /// none, random, least-likely or a class index below `classes`; the error says what was expected.
    pub fn parse(s: &str, classes: i64) -> std::result::Result<Target, String> {
        Ok(match s {
            "none" => Target::Untargeted,
            "random" => Target::Random,
            "least-likely" => Target::LeastLikely,
            other => match other.parse::<i64>() {
                Ok(c) if (0..classes).contains(&c) => Target::Class(c),
                Ok(_) => {
                    return Err(format!("class out of range (the dataset has {classes} classes, 0–{})", classes - 1))
                }
                Err(_) => return Err("expected none, random, least-likely or a class index".into()),
            },
        })
    }
}

/// Projected gradient descent on `loss`, `steps` steps of size `alpha` in an `eps` ball.
#[derive(Clone, Debug)]
pub struct Pgd {
    pub eps: f64,
    pub alpha: f64,
    pub steps: usize,
    pub norm: Norm,
    pub random_start: bool,
    pub restarts: usize,
    pub loss: LossKind,
    pub target: Target,
    pub num_classes: i64,
    /// Run the model in training mode (adversarial training, as in Madry's and Wong et al.'s code).
    pub train_mode: bool,
    /// The step size as the user wrote it, named in the label, when it is not the default ε/4.
    pub alpha_text: Option<String>,
}

impl Pgd {
    /// The ℓ∞ PGD docs/methods.md §4.3 recommends for evaluation: ε, α = 2/255, 20 steps, random start, CE.
    pub fn linf(eps: f64, alpha: f64, steps: usize, num_classes: i64) -> Pgd {
        Pgd {
            eps,
            alpha,
            steps,
            norm: Norm::Linf,
            random_start: true,
            restarts: 1,
            loss: LossKind::Ce,
            target: Target::Untargeted,
            num_classes,
            train_mode: false,
            alpha_text: None,
        }
    }

    /// The target class of each sample, or None when untargeted.
    pub fn targets(&self, net: &Network, b: &AttackBatch) -> Option<Tensor> {
        let y = b.y;
        match self.target {
            Target::Untargeted => None,
            Target::Class(c) => Some(y.full_like(c)),
            Target::LeastLikely => Some(tch::no_grad(|| net.forward(b.x, self.train_mode).argmin(-1, false))),
            Target::Random => {
                let labels = Vec::<i64>::try_from(&y.to_device(tch::Device::Cpu)).unwrap_or_default();
                let t: Vec<i64> = labels
                    .iter()
                    .zip(b.ids)
                    .map(|(&l, &id)| {
                        let k = rng_for(b.seed, &[TARGET_DRAW, id]).gen_range(0..self.num_classes - 1);
                        if k >= l {
                            k + 1
                        } else {
                            k
                        }
                    })
                    .collect();
                Some(Tensor::from_slice(&t).to_device(y.device()))
            }
        }
    }

    /// The random start of restart `r`: uniform in the ℓ∞ ball, or uniform radius along a Gaussian direction (ℓ2).
    fn start(&self, b: &AttackBatch, r: usize) -> Tensor {
        if !self.random_start {
            return b.x.shallow_clone();
        }
        let delta = match self.norm {
            Norm::Linf => start_noise(b.x, b.ids, b.seed, r as u64, false) * self.eps,
            Norm::L2 => {
                let dir = start_noise(b.x, b.ids, b.seed, r as u64, true);
                let one = Tensor::zeros([b.x.size()[0], 1, 1, 1], (Kind::Float, b.x.device()));
                let radius = (start_noise(&one, b.ids, b.seed, RADIUS + r as u64, false) + 1.0) * 0.5;
                &dir / (l2_norms(&dir) + 1e-12) * radius * self.eps
            }
        };
        (b.x + delta).clamp(0.0, 1.0)
    }

    /// The last iterate of `steps` projected steps from `start`.
    fn iterate(&self, net: &Network, b: &AttackBatch, target: Option<&Tensor>, start: Tensor) -> Tensor {
        let mut adv = start;
        for _ in 0..self.steps {
            let (_, grad, _) = input_gradient(net, &adv, b.y, target, self.loss, self.train_mode);
            adv = tch::no_grad(|| {
                project(&(&adv + ascent_direction(&grad, self.norm) * self.alpha), b.x, self.eps, self.norm)
            });
        }
        adv
    }

    /// One restart: its last iterate, its objective, and whether it fools the model.
    fn run_once(&self, net: &Network, b: &AttackBatch, target: Option<&Tensor>, r: usize) -> (Tensor, Tensor, Tensor) {
        let adv = self.iterate(net, b, target, self.start(b, r));
        let (obj, fooled) = tch::no_grad(|| {
            let logits = net.forward(&adv, self.train_mode);
            let obj = super::objective(&logits, b.y, target, self.loss);
            let pred = logits.argmax(-1, false);
            let fooled = match target {
                Some(t) => pred.eq_tensor(t),
                None => pred.ne_tensor(b.y),
            };
            (obj, fooled)
        });
        (adv, obj, fooled)
    }
}

impl Attack for Pgd {
    fn label(&self) -> String {
        let mut s = format!("PGD-{}", self.steps);
        if self.norm == Norm::L2 {
            s += " ℓ2";
        }
        if self.loss != LossKind::Ce {
            s += &format!(" {}", self.loss.name());
        }
        match self.target {
            Target::Untargeted => {}
            Target::Class(c) => s += &format!(" →{c}"),
            Target::Random => s += " →random",
            Target::LeastLikely => s += " →least-likely",
        }
        if let Some(alpha) = &self.alpha_text {
            s += &format!(" α={alpha}");
        }
        if !self.random_start {
            s += " clean start";
        }
        if self.restarts > 1 {
            s += &format!(" ×{}", self.restarts);
        }
        s
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn norm(&self) -> Norm {
        self.norm
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        let target = self.targets(net, b);
        let restarts = self.restarts.max(1);
        if restarts == 1 {
            let adv = self.iterate(net, b, target.as_ref(), self.start(b, 0));
            return Outcome { adv, targets: target, restart_fooled: Vec::new(), stages: None };
        }
        let (mut best, mut best_obj, mut best_fooled) = self.run_once(net, b, target.as_ref(), 0);
        let mut restart_fooled = vec![to_bools(&best_fooled)];
        for r in 1..restarts {
            let (adv, obj, fooled) = self.run_once(net, b, target.as_ref(), r);
            restart_fooled.push(to_bools(&fooled));
            // Prefer a restart that fools the model; among equals, the higher objective.
            let better = fooled
                .logical_and(&best_fooled.logical_not())
                .logical_or(&fooled.eq_tensor(&best_fooled).logical_and(&obj.gt_tensor(&best_obj)));
            let m = better.view([-1, 1, 1, 1]);
            best = adv.where_self(&m, &best);
            best_obj = obj.where_self(&better, &best_obj);
            best_fooled = best_fooled.logical_or(&fooled);
        }
        Outcome { adv: best, targets: target, restart_fooled, stages: None }
    }
}
