//! Square Attack (Andriushchenko et al. ECCV 2020; docs/methods.md §4.3), ℓ∞, as AutoAttack runs it:
//! score-based, no gradient. Each point starts from vertical stripes of ±ε; every query step adds one
//! square of side s (shared by the batch, as in AutoAttack) whose channels move by ±2ε, projects back
//! onto the ε-ball and [0,1], and keeps the change when the margin loss drops or the point is fooled.
//! The square shrinks on AutoAttack's schedule of p. Only points still correctly classified query.
use super::entry::{AttackEntry, AttackSpec, Param};
use super::{predict, start_noise, Attack, AttackBatch, Norm, Outcome};
use crate::error::Result;
use crate::models::Network;
use crate::rng::rng_for;
use rand::Rng;
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
    norms: &[Norm::Linf],
    build,
};

fn build(s: &AttackSpec) -> Result<Box<dyn Attack>> {
    let p_init: f64 = s.text("p_init").parse().map_err(|_| s.error("p_init", "expected a number in (0, 1]"))?;
    if !(p_init > 0.0 && p_init <= 1.0) {
        return Err(s.error("p_init", "must be in (0, 1]"));
    }
    Ok(Box::new(Square {
        eps: s.eps,
        queries: s.count("queries", 1, "at least 1 query")?,
        p_init,
        restarts: s.count("restarts", 1, "at least 1 restart")?,
    }))
}

/// Seed path of the stripes and squares.
const SQUARE_SEED: u64 = 0x5351_5541;

pub struct Square {
    pub eps: f64,
    pub queries: usize,
    pub p_init: f64,
    pub restarts: usize,
}

/// The margin z_y − max_{k≠y} z_k per sample (positive while correctly classified).
fn margin(net: &Network, x: &Tensor, y: &Tensor) -> Tensor {
    let logits = net.forward(x, false).to_kind(Kind::Float);
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
        let (n, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let stripes = start_noise(&Tensor::zeros([n, c, 1, w], (Kind::Float, x.device())), ids, seed, restart, false);
        let mut best = (x + stripes.sign() * self.eps).clamp(0.0, 1.0);
        let mut margin_min = margin(net, &best, y);
        let mut used = vec![1usize; n as usize];
        let first = ids.first().copied().unwrap_or(0);
        let mut rng = rng_for(seed, &[SQUARE_SEED, restart, first]);
        for it in 0..self.queries {
            let active = margin_min.gt(0.0).nonzero().squeeze_dim(1);
            let count = active.size()[0];
            if count == 0 {
                break;
            }
            let (xa, ba, ya) = (x.index_select(0, &active), best.index_select(0, &active), y.index_select(0, &active));
            let side = ((self.p_at(it) * (h * w) as f64).sqrt().round() as i64).max(1).min(h.min(w));
            // AutoAttack's random_int(0, len − s): a corner in 0..len−s, 0 when the square fills the side.
            let pick =
                |rng: &mut rand_chacha::ChaCha8Rng, len: i64| if len > side { rng.gen_range(0..len - side) } else { 0 };
            let (vh, vw) = (pick(&mut rng, h), pick(&mut rng, w));
            let signs: Vec<f32> = (0..c).map(|_| if rng.gen_bool(0.5) { 1.0 } else { -1.0 }).collect();
            let delta = Tensor::zeros([c, h, w], (Kind::Float, x.device()));
            let square = Tensor::from_slice(&signs).reshape([c, 1, 1]).to_device(x.device()) * (2.0 * self.eps);
            delta.narrow(1, vh, side).narrow(2, vw, side).copy_(&square.expand([c, side, side], false));
            let candidate = (&ba + delta).maximum(&(&xa - self.eps)).minimum(&(&xa + self.eps)).clamp(0.0, 1.0);
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
}

impl Attack for Square {
    fn label(&self) -> String {
        format!("Square-{}", self.queries)
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn norm(&self) -> Norm {
        Norm::Linf
    }
    fn perturb(&self, net: &Network, b: &AttackBatch) -> Outcome {
        tch::no_grad(|| {
            let mut adv = b.x.copy();
            let mut robust = predict(net, b.x).eq_tensor(b.y);
            for restart in 0..self.restarts as u64 {
                let idx = robust.nonzero().squeeze_dim(1);
                let rows = Vec::<i64>::try_from(&idx).unwrap_or_default();
                if rows.is_empty() {
                    break;
                }
                let ids: Vec<u64> = rows.iter().map(|&i| b.ids[i as usize]).collect();
                let (xs, ys) = (b.x.index_select(0, &idx), b.y.index_select(0, &idx));
                let (found, _) = self.run(net, &xs, &ys, &ids, b.seed, restart);
                let fooled = predict(net, &found).ne_tensor(&ys);
                let broken = idx.masked_select(&fooled);
                adv = adv.index_copy(0, &broken, &found.index_select(0, &fooled.nonzero().squeeze_dim(1)));
                robust = robust.index_fill(0, &broken, 0);
            }
            Outcome::images(adv)
        })
    }
}
