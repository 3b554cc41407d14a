//! Spatter: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `spatter::spatter`.
use crate::corruption::{At, Corruption};
use crate::spatter::{spatter, Spatter};
use crate::Image;
use rand_chacha::ChaCha8Rng;

/// The registry entry of spatter, with its CIFAR and ImageNet parameters (docs/corruptions.md).
pub const ENTRY: Corruption = Corruption { name: "spatter", family: "extra", apply: spatter_at };

fn spatter_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> crate::Result<Image> {
    let cifar = [
        (0.62, 0.1, 0.7, 0.7, 0.5, false),
        (0.65, 0.1, 0.8, 0.7, 0.5, false),
        (0.65, 0.3, 1.0, 0.69, 0.5, false),
        (0.65, 0.1, 0.7, 0.69, 0.6, true),
        (0.65, 0.1, 0.5, 0.68, 0.6, true),
    ];
    let imagenet = [
        (0.65, 0.3, 4.0, 0.69, 0.6, false),
        (0.65, 0.3, 3.0, 0.68, 0.6, false),
        (0.65, 0.3, 2.0, 0.68, 0.5, false),
        (0.65, 0.3, 1.0, 0.65, 1.5, true),
        (0.67, 0.4, 1.0, 0.65, 1.5, true),
    ];
    let (mean, std, sigma, threshold, intensity, mud) = p.pick(cifar, imagenet);
    Ok(spatter(img, Spatter { mean, std, sigma, threshold, intensity, mud }, rng))
}
