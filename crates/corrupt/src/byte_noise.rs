//! The four pointwise noises (docs/methods.md §4.1.2) drawn as what they are: each output byte depends
//! only on its input byte and fresh randomness, so for each input byte v the output follows a fixed
//! distribution over the 256 bytes, computed once per (noise, parameter, v) from the definition —
//! the Gaussian CDF for gaussian and speckle noise, the Poisson pmf for shot noise, the flip
//! fractions for impulse noise — with the reference's clip, scale by 255 and truncation. Each value
//! then costs one 64-bit draw and one alias-table look-up (Walker 1977, Vose 1991). The bytes follow
//! the same distribution as the reference's, to within 2⁻³² per outcome (the alias thresholds are
//! 32-bit); the random stream differs, as it does from NumPy anyway.
use crate::wyrand::Wyrand;
use crate::Image;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A pointwise noise and its parameter, as the presets name them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// x + N(0, c²).
    Gaussian(f64),
    /// Poisson(x·c)/c.
    Shot(f64),
    /// Salt (1) or pepper (0), equally likely, on a fraction `amount` of values.
    Impulse(f64),
    /// x + x·N(0, c²).
    Speckle(f64),
}

impl Noise {
    /// P(output byte = k | input byte v) for k = 0..=255, from the definition.
    pub fn output_distribution(self, v: u8) -> [f64; 256] {
        let x = v as f64 / 255.0;
        match self {
            Noise::Gaussian(c) => from_cdf(|b| normal_cdf((b - x) / c)),
            Noise::Speckle(_) if v == 0 => point_mass(0),
            Noise::Speckle(c) => from_cdf(|b| normal_cdf((b / x - 1.0) / c)),
            Noise::Shot(_) if v == 0 => point_mass(0),
            Noise::Shot(c) => poisson_bytes(x * c, c),
            Noise::Impulse(amount) => {
                let mut p = point_mass(v);
                p[v as usize] -= amount;
                p[0] += amount / 2.0;
                p[255] += amount / 2.0;
                p
            }
        }
    }

    fn key(self) -> (u8, u64) {
        match self {
            Noise::Gaussian(c) => (0, c.to_bits()),
            Noise::Shot(c) => (1, c.to_bits()),
            Noise::Impulse(a) => (2, a.to_bits()),
            Noise::Speckle(c) => (3, c.to_bits()),
        }
    }
}

/// The noisy image: one draw per value from the input byte's output distribution.
pub fn apply(img: &Image, noise: Noise, rng: &mut impl Rng) -> Image {
    let tables = tables_for(noise);
    let mut draws = Wyrand::new(rng.gen());
    let data = img.data.iter().map(|&v| tables[v as usize].sample(draws.next())).collect();
    Image { data, ..*img }
}

/// Walker's alias table over the 256 bytes: slot i keeps byte i with probability threshold[i]/2³²,
/// otherwise gives alias[i].
pub struct AliasTable {
    threshold: [u32; 256],
    alias: [u8; 256],
}

impl AliasTable {
    /// Vose's construction from probabilities `p` (normalised here; each must be ≥ 0, the sum > 0).
    pub fn new(p: &[f64; 256]) -> AliasTable {
        let total: f64 = p.iter().sum();
        let mut scaled: Vec<f64> = p.iter().map(|q| q.max(0.0) / total * 256.0).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..256).partition(|&i| scaled[i] < 1.0);
        let mut table = AliasTable { threshold: [u32::MAX; 256], alias: std::array::from_fn(|i| i as u8) };
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            table.threshold[s] = (scaled[s] * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
            table.alias[s] = l as u8;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                small.push(large.pop().expect("l is on the stack"));
            }
        }
        table
    }

    /// One byte from 64 random bits: the top 8 pick the slot, the low 32 the side.
    #[inline(always)]
    pub fn sample(&self, bits: u64) -> u8 {
        let slot = (bits >> 56) as usize;
        let (alias, keep) = (self.alias[slot], (bits as u32) < self.threshold[slot]);
        // A select without a branch: the side is a coin flip, which a branch would mispredict.
        alias ^ ((slot as u8 ^ alias) & (keep as u8).wrapping_neg())
    }

    /// The probability of each byte that [`AliasTable::sample`] realises over all 2⁶⁴ inputs.
    pub fn probabilities(&self) -> [f64; 256] {
        let mut p = [0.0; 256];
        for slot in 0..256 {
            let keep =
                if self.alias[slot] as usize == slot { 1.0 } else { self.threshold[slot] as f64 / 4_294_967_296.0 };
            p[slot] += keep / 256.0;
            p[self.alias[slot] as usize] += (1.0 - keep) / 256.0;
        }
        p
    }
}

type ByteTables = Arc<Vec<AliasTable>>;

/// The 256 tables of one noise, built once and shared by all threads.
fn tables_for(noise: Noise) -> ByteTables {
    static CACHE: OnceLock<Mutex<HashMap<(u8, u64), ByteTables>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&noise.key()) {
        return t.clone();
    }
    let built = Arc::new((0..=255).map(|v| AliasTable::new(&noise.output_distribution(v))).collect());
    cache.lock().unwrap_or_else(|e| e.into_inner()).entry(noise.key()).or_insert(built).clone()
}

/// Byte k is produced by unit values in [k/255, (k+1)/255) (clip, ×255, truncate), byte 0 by
/// everything below 1/255 and byte 255 by everything from 1 up; `cdf(b)` = P(value < b).
fn from_cdf(cdf: impl Fn(f64) -> f64) -> [f64; 256] {
    let below: Vec<f64> = (1..256).map(|k| cdf(k as f64 / 255.0)).collect();
    std::array::from_fn(|k| {
        let upper = if k == 255 { 1.0 } else { below[k] };
        let lower = if k == 0 { 0.0 } else { below[k - 1] };
        (upper - lower).max(0.0)
    })
}

/// Φ(t), the standard normal CDF, through erfc for accuracy in both tails; beyond |t| = 9 it is
/// 0 or 1 to within 1.2e-19, far below the tables' 2⁻³² resolution, and costs no erfc.
fn normal_cdf(t: f64) -> f64 {
    match t {
        t if t < -9.0 => 0.0,
        t if t > 9.0 => 1.0,
        t => 0.5 * libm::erfc(-t / std::f64::consts::SQRT_2),
    }
}

fn point_mass(v: u8) -> [f64; 256] {
    let mut p = [0.0; 256];
    p[v as usize] = 1.0;
    p
}

/// The bytes of Poisson(λ)/c: the pmf summed over the counts n that give each byte, up to where the
/// remaining mass is below f64 resolution, then normalised (the log-factorial sum drifts by ~1e-12
/// at λ = 500).
fn poisson_bytes(lambda: f64, c: f64) -> [f64; 256] {
    let (mut p, ln_lambda, mut ln_factorial) = ([0.0; 256], lambda.ln(), 0.0);
    for n in 0u32.. {
        if n > 0 {
            ln_factorial += (n as f64).ln();
        }
        let pmf = (n as f64 * ln_lambda - lambda - ln_factorial).exp();
        p[crate::image::unit_to_byte(n as f64 / c) as usize] += pmf;
        if n as f64 > lambda && pmf < 1e-20 {
            break;
        }
    }
    let total: f64 = p.iter().sum();
    p.map(|q| q / total)
}
