//! Frost: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `frost::frost`.
use crate::corruption::{At, Corruption};
use crate::frost::{frost, textures_for};
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

/// The registry entry of frost, with its CIFAR and ImageNet parameters (docs/corruptions.md).
pub const ENTRY: Corruption = Corruption { name: "frost", family: "weather", apply: frost_at };

fn frost_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)];
    let imagenet = [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)];
    let (a, b) = p.pick(cifar, imagenet);
    Ok(frost(img, a, b, &textures_for(p.frost, p.preset, (img.height, img.width)), rng))
}
