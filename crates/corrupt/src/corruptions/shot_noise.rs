//! Shot noise: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::shot_noise`.
use crate::corruption::{At, Corruption};
use crate::ops::shot_noise;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "shot_noise", family: "noise", apply: shot_noise_at };

fn shot_noise_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    Ok(shot_noise(img, p.pick([500.0, 250.0, 100.0, 75.0, 50.0], [60.0, 25.0, 12.0, 5.0, 3.0]), rng))
}
