//! Square Attack (Andriushchenko et al. ECCV 2020; docs/methods.md §4.3), ℓ∞ and ℓ2, as AutoAttack runs
//! it: score-based, no gradient. Each query step changes one square (placed alike for the whole batch,
//! as in AutoAttack), stays in the ε-ball and [0,1], and keeps the change when the margin loss drops or
//! the point is fooled. The square shrinks on AutoAttack's schedule of p. Only points still correctly
//! classified query.
use super::entry::{AttackEntry, AttackSpec, Param};
use super::remaining::{clean_start, Remaining};
use super::{l2_norms, predict, start_noise, Attack, AttackBatch, Norm, Outcome};
use crate::error::Result;
use crate::models::Network;
use crate::rng::rng_for;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// `square` in the registry: AutoAttack's standard settings by default.
pub const ENTRY: AttackEntry = AttackEntry {
    name: "square",
    summary: "Square Attack (Andriushchenko et al. 2020): random squares of ±2ε kept when the margin drops; \
              no gradients, as in AutoAttack",
    params: &[
        Param { key: "queries", default: "5000", help: "query steps after the first evaluation, per restart" },
        Param { key: "p_init", default: "0.8", help: "initial fraction of pixels a square covers" },
        Param { key: "restarts", default: "1", help: "runs on the points still robust" },
    ],
    norms: &[Norm::Linf, Norm::L2],
    build,
};

fn build(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    let p_init: f64 = s.text("p_init").parse().map_err(|_| s.error("p_init", "expected a number in (0, 1]"))?;
    if !(p_init > 0.0 && p_init <= 1.0) {
        return Err(s.error("p_init", "must be in (0, 1]"));
    }
    Ok(Box::new(Square {
        eps: s.eps,
        norm: s.norm,
        queries: s.count("queries", 1, "at least 1 query")?,
        p_init,
        restarts: s.count("restarts", 1, "at least 1 restart")?,
    }))
}

/// Seed path of the stripes and squares.
const SQUARE_SEED: u64 = 0x5351_5541;

pub struct Square {
    pub eps: f64,
    pub norm: Norm,
    pub queries: usize,
    pub p_init: f64,
    pub restarts: usize,
}

/// The margin z_y − max_{k≠y} z_k per sample (positive while correctly classified).
fn margin(net: &Network, x: &Tensor, y: &Tensor) -> Tensor {
    let logits = net.forward(x, false);
    let index = y.unsqueeze(1);
    let correct = logits.gather(1, &index, false).squeeze_dim(1);
    let others = logits.scatter_value(1, &index, f64::NEG_INFINITY).amax([1i64].as_slice(), false);
    correct - others
}

impl Square {
    /// AutoAttack's schedule of p by query step `it` (not rescaled to the number of queries).
    pub fn p_at(&self, it: usize) -> f64 {
        let halvings = match it {
            0..=10 => 0,
            11..=50 => 1,
            51..=200 => 2,
            201..=500 => 3,
            501..=1000 => 4,
            1001..=2000 => 5,
            2001..=4000 => 6,
            4001..=6000 => 7,
            6001..=8000 => 8,
            _ => 9,
        };
        self.p_init / f64::from(1u32 << halvings)
    }

    /// One run on points `x` (labels `y`, ids `ids`): the best images found and the model queries each
    /// point used (the first evaluation included).
    pub fn run(
        &self,
        net: &Network,
        x: &Tensor,
        y: &Tensor,
        ids: &[u64],
        seed: u64,
        restart: u64,
    ) -> (Tensor, Vec<usize>) {
        let n = x.size()[0];
        let first = ids.first().copied().unwrap_or(0);
        let mut rng = rng_for(seed, &[SQUARE_SEED, restart, first]);
        let mut best = match self.norm {
            Norm::Linf => self.linf_start(x, ids, seed, restart),
            Norm::L2 => self.l2_start(x, ids, seed, restart, &mut rng),
        };
        let mut margin_min = margin(net, &best, y);
        let mut used = vec![1usize; n as usize];
        for it in 0..self.queries {
            let active = margin_min.gt(0.0).nonzero().squeeze_dim(1);
            let count = active.size()[0];
            if count == 0 {
                break;
            }
            let (xa, ba, ya) = (x.index_select(0, &active), best.index_select(0, &active), y.index_select(0, &active));
            let candidate = match self.norm {
                Norm::Linf => self.linf_step(&xa, &ba, it, &mut rng),
                Norm::L2 => self.l2_step(&xa, &ba, it, &mut rng),
            };
            let m = margin(net, &candidate, &ya);
            let old = margin_min.index_select(0, &active);
            let keep = m.lt_tensor(&old).logical_or(&m.le(0.0));
            margin_min = margin_min.index_copy(0, &active, &m.where_self(&keep, &old));
            let rows = keep.reshape([count, 1, 1, 1]);
            best = best.index_copy(0, &active, &candidate.where_self(&rows, &ba));
            for i in Vec::<i64>::try_from(&active).unwrap_or_default() {
                used[i as usize] += 1;
            }
        }
        (best, used)
    }

    /// ℓ∞ start: vertical stripes of ±ε, one sign per sample, channel and column.
    fn linf_start(&self, x: &Tensor, ids: &[u64], seed: u64, restart: u64) -> Tensor {
        let (n, c, _, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let stripes = start_noise(&Tensor::zeros([n, c, 1, w], (Kind::Float, x.device())), ids, seed, restart, false);
        (x + stripes.sign() * self.eps).clamp(0.0, 1.0)
    }

    /// ℓ∞ step: one square of side round(√(p·H·W)) whose channels move by ±2ε, projected.
    fn linf_step(&self, x: &Tensor, best: &Tensor, it: usize, rng: &mut ChaCha8Rng) -> Tensor {
        let (_, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let side = ((self.p_at(it) * (h * w) as f64).sqrt().round() as i64).max(1).min(h.min(w));
        let (vh, vw) = (corner(rng, h, side), corner(rng, w, side));
        let signs = Tensor::from_slice(&random_signs(rng, c as usize)).reshape([c, 1, 1]).to_device(x.device());
        let delta = Tensor::zeros([c, h, w], (Kind::Float, x.device()));
        delta.narrow(1, vh, side).narrow(2, vw, side).copy_(&(signs * (2.0 * self.eps)).expand([c, side, side], false));
        (best + delta).maximum(&(x - self.eps)).minimum(&(x + self.eps)).clamp(0.0, 1.0)
    }

    /// ℓ2 start: a grid of windows of side ⌊H/5⌋, each an [`eta`] pattern with a sign per sample and
    /// channel, scaled to norm ε.
    fn l2_start(&self, x: &Tensor, ids: &[u64], seed: u64, restart: u64, rng: &mut ChaCha8Rng) -> Tensor {
        let (n, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let s = (h / 5).max(1);
        let (across, down) = (w / s, h / s);
        let like = Tensor::zeros([n, c, down * across, 1], (Kind::Float, x.device()));
        let signs = start_noise(&like, ids, seed, restart, false).sign();
        let delta = Tensor::zeros([n, c, h, w], (Kind::Float, x.device()));
        let start = (h - s * 5).max(0) / 2;
        for i in 0..down {
            for j in 0..across {
                let (vh, vw) = (start + i * s, start + j * s);
                if vh + s > h || vw + s > w {
                    continue;
                }
                let pattern = eta(s, rng).to_device(x.device()).reshape([1, 1, s, s]);
                let window = pattern * signs.narrow(2, i * across + j, 1).reshape([n, c, 1, 1]);
                let mut area = delta.narrow(2, vh, s).narrow(3, vw, s);
                area += window;
            }
        }
        (x + unit_l2(&delta) * self.eps).clamp(0.0, 1.0)
    }

    /// ℓ2 step (AutoAttack's): a new [`eta`] window (odd side ≥ 3) at one place replaces, with the
    /// mass of another window it clears, the perturbation there; the whole is rescaled to norm ε.
    fn l2_step(&self, x: &Tensor, best: &Tensor, it: usize, rng: &mut ChaCha8Rng) -> Tensor {
        let (n, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let mut s = ((self.p_at(it) * (h * w) as f64).sqrt().round() as i64).max(3).min(h.min(w));
        if s % 2 == 0 && s < h.min(w) {
            s += 1;
        }
        let delta = best - x;
        let (vh, vw) = (corner(rng, h, s), corner(rng, w, s));
        let (vh2, vw2) = (corner(rng, h, s), corner(rng, w, s));
        let window = |t: &Tensor, a: i64, b: i64| t.narrow(2, a, s).narrow(3, b, s);
        let sq = |t: &Tensor| t.square().sum_dim_intlist([-2i64, -1].as_slice(), true, Kind::Float).sqrt();
        let norm_window = sq(&window(&delta, vh, vw));
        let mask = Tensor::zeros([1, 1, h, w], (Kind::Float, x.device()));
        let _ = window(&mask, vh, vw).fill_(1.0);
        let _ = window(&mask, vh2, vw2).fill_(1.0);
        let norm_image = l2_norms(&delta);
        let norm_windows = l2_norms(&(&delta * &mask));
        let signs =
            Tensor::from_slice(&random_signs(rng, (n * c) as usize)).reshape([n, c, 1, 1]).to_device(x.device());
        let fresh = eta(s, rng).to_device(x.device()).reshape([1, 1, s, s]) * signs;
        let moved = fresh + window(&delta, vh, vw) / (&norm_window + 1e-12);
        let budget =
            ((-norm_image.square() + self.eps * self.eps).clamp_min(0.0) / c as f64 + norm_windows.square()).sqrt();
        let moved = &moved / (sq(&moved) + 1e-12) * budget;
        let next = delta.copy();
        let _ = window(&next, vh2, vw2).fill_(0.0);
        window(&next, vh, vw).copy_(&moved);
        (x + unit_l2(&next) * self.eps).clamp(0.0, 1.0)
    }
}

/// AutoAttack's random_int(0, len − s): a corner in 0..len−s, 0 when the square fills the side.
fn corner(rng: &mut ChaCha8Rng, len: i64, side: i64) -> i64 {
    if len > side {
        rng.gen_range(0..len - side)
    } else {
        0
    }
}

fn random_signs(rng: &mut ChaCha8Rng, count: usize) -> Vec<f32> {
    (0..count).map(|_| if rng.gen_bool(0.5) { 1.0 } else { -1.0 }).collect()
}

/// Each sample scaled to unit ℓ2 norm (AutoAttack's `normalize`).
fn unit_l2(t: &Tensor) -> Tensor {
    t / (l2_norms(t) + 1e-12)
}

/// AutoAttack's `eta_rectangles(a, b)`: nested rectangles around the centre, each adding 1/(k+1)²,
/// scaled to unit ℓ2 norm.
fn eta_rectangles(a: i64, b: i64) -> Vec<f64> {
    let mut d = vec![0.0; (a * b) as usize];
    let (ac, bc) = (a / 2 + 1, b / 2 + 1);
    let (mut r, mut q) = (ac - 1, bc - 1);
    for k in 0..ac.max(bc) {
        for i in r.max(0)..(r + 2 * k + 1).min(a) {
            for j in q.max(0)..(q + 2 * k + 1).min(b) {
                d[(i * b + j) as usize] += 1.0 / ((k + 1) * (k + 1)) as f64;
            }
        }
        r -= 1;
        q -= 1;
    }
    let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    d.iter().map(|v| if norm > 0.0 { v / norm } else { 0.0 }).collect()
}

/// AutoAttack's `eta(s)`: the upper half positive rectangles, the lower half negative, unit norm,
/// transposed with probability ½.
fn eta(s: i64, rng: &mut ChaCha8Rng) -> Tensor {
    let top = s / 2;
    let mut d: Vec<f64> = eta_rectangles(top, s);
    d.extend(eta_rectangles(s - top, s).iter().map(|v| -v));
    let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let t = Tensor::from_slice(&d.iter().map(|v| (v / norm) as f32).collect::<Vec<_>>()).reshape([s, s]);
    if rng.gen_bool(0.5) {
        t.transpose(0, 1).contiguous()
    } else {
        t
    }
}

impl Attack for Square {
    fn label(&self) -> String {
        format!("Square-{}", self.queries)
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn norm(&self) -> Norm {
        self.norm
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        tch::no_grad(|| {
            let (mut adv, mut robust) = clean_start(net, b);
            for restart in 0..self.restarts as u64 {
                let Some(rem) = Remaining::of(b, &robust) else { break };
                let (found, _) = self.run(net, &rem.x, &rem.y, &rem.ids, b.seed, restart);
                rem.record(&predict(net, &found).ne_tensor(&rem.y), &found, &mut robust, &mut adv);
            }
            Outcome::images(adv)
        })
    }
}
