//! Impulse noise: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::impulse_noise`.
use crate::corruption::{At, Corruption};
use crate::ops::impulse_noise;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "impulse_noise", family: "noise", apply: impulse_noise_at };

fn impulse_noise_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    Ok(impulse_noise(img, p.pick([0.01, 0.02, 0.03, 0.05, 0.07], [0.03, 0.06, 0.09, 0.17, 0.27]), rng))
}
