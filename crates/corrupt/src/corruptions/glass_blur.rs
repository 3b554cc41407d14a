//! Glass blur: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `blurs::glass_blur`.
use crate::blurs::glass_blur;
use crate::corruption::{At, Corruption};
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "glass_blur", family: "blur", apply: glass_blur_at };

fn glass_blur_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)];
    let imagenet = [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)];
    let (sigma, delta, iterations) = p.pick(cifar, imagenet);
    Ok(glass_blur(img, sigma, delta, iterations, rng))
}
