//! Poisson draws by inverse transform over a precomputed CDF with a guide table (Chen & Asau 1974):
//! one uniform per draw, exact up to the f64 rounding of the CDF. Shot noise draws from at most 256
//! rates per severity, so the tables are built once per rate and thread and reused for every image.
use rand::Rng;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// The CDF of Poisson(λ) up to where the remaining mass is below f64 resolution, with a guide table.
pub struct PoissonTable {
    cdf: Vec<f64>,
    /// guide[j] = the smallest k with cdf[k] > j / guide.len().
    guide: Vec<u32>,
}

impl PoissonTable {
    /// The table of Poisson(`lambda`); `lambda` must be positive and finite.
    pub fn new(lambda: f64) -> PoissonTable {
        assert!(lambda > 0.0 && lambda.is_finite(), "Poisson rate {lambda}");
        let ln_lambda = lambda.ln();
        let (mut cdf, mut total, mut ln_factorial) = (Vec::new(), 0.0, 0.0);
        for k in 0u32.. {
            if k > 0 {
                ln_factorial += (k as f64).ln();
            }
            let pmf = (k as f64 * ln_lambda - lambda - ln_factorial).exp();
            total += pmf;
            cdf.push(total);
            if k as f64 > lambda && pmf < 1e-20 * total {
                break;
            }
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        *cdf.last_mut().expect("at least one term") = 1.0;
        let n = cdf.len();
        let mut guide = Vec::with_capacity(n);
        let mut k = 0;
        for j in 0..n {
            while cdf[k] <= j as f64 / n as f64 {
                k += 1;
            }
            guide.push(k as u32);
        }
        PoissonTable { cdf, guide }
    }

    /// The smallest k with CDF(k) > u, for u uniform in [0, 1): a Poisson draw.
    pub fn quantile(&self, u: f64) -> u32 {
        let mut k = self.guide[((u * self.guide.len() as f64) as usize).min(self.guide.len() - 1)] as usize;
        while self.cdf[k] <= u && k + 1 < self.cdf.len() {
            k += 1;
        }
        k as u32
    }

    /// One draw.
    pub fn sample(&self, rng: &mut impl Rng) -> u32 {
        self.quantile(rng.gen::<f64>())
    }
}

type RateTables = Rc<Vec<OnceCell<PoissonTable>>>;

thread_local! {
    static BY_SCALE: RefCell<HashMap<u64, RateTables>> = RefCell::new(HashMap::new());
}

/// The tables of Poisson(v / 255 · c) for v = 0..=255 (built on first use; v = 0 is never drawn).
pub fn tables_for_scale(c: f64) -> RateTables {
    BY_SCALE.with(|m| {
        m.borrow_mut()
            .entry(c.to_bits())
            .or_insert_with(|| Rc::new((0..256).map(|_| OnceCell::new()).collect()))
            .clone()
    })
}
