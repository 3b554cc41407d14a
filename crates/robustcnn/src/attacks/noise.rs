//! Random starts drawn per sample from (seed, restart, sample id), so they do not depend on batching.
use crate::rng::rng_for;
use rand::Rng;
use tch::Tensor;

const START: u64 = 0x5354_4152;

/// Noise shaped like `like` (N×C×H×W): uniform in [−1, 1] or, if `gaussian`, standard normal.
pub fn start_noise(like: &Tensor, ids: &[u64], seed: u64, restart: u64, gaussian: bool) -> Tensor {
    let size = like.size();
    let per: usize = size[1..].iter().product::<i64>() as usize;
    let mut values = Vec::with_capacity(per * ids.len());
    for &id in ids {
        let mut rng = rng_for(seed, &[START, restart, id]);
        if gaussian {
            for _ in 0..per {
                // Box–Muller; one value per pair of uniforms keeps the stream simple.
                let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
                values.push(((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32);
            }
        } else {
            values.extend((0..per).map(|_| rng.gen_range(-1.0f32..=1.0)));
        }
    }
    Tensor::from_slice(&values).reshape(size).to_device(like.device())
}
