//! Gaussian noise: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::gaussian_noise`.
use crate::corruption::{At, Corruption};
use crate::ops::gaussian_noise;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "gaussian_noise", family: "noise", apply: gaussian_noise_at };

fn gaussian_noise_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    Ok(gaussian_noise(img, p.pick([0.04, 0.06, 0.08, 0.09, 0.10], [0.08, 0.12, 0.18, 0.26, 0.38]), rng))
}
