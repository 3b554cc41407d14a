//! Speckle noise: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::speckle_noise`.
use crate::corruption::{At, Corruption};
use crate::ops::speckle_noise;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "speckle_noise", family: "extra", apply: speckle_noise_at };

fn speckle_noise_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    Ok(speckle_noise(img, p.pick([0.06, 0.10, 0.12, 0.16, 0.20], [0.15, 0.20, 0.35, 0.45, 0.60]), rng))
}
