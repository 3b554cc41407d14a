//! Snow: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `weather::snow`.
use crate::corruption::{At, Corruption};
use crate::weather::{snow, Snow, SnowCrop};
use crate::{Image, Preset, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "snow", family: "weather", apply: snow_at };

fn snow_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [
        (0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.95),
        (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.8),
    ];
    let imagenet = [
        (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
        (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
        (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
    ];
    let (mean, std, zoom, threshold, radius, sigma, blend) = p.pick(cifar, imagenet);
    let crop = if p.preset == Preset::Sized { SnowCrop::TopLeftAfterBlur } else { SnowCrop::Centre };
    Ok(snow(img, Snow { mean, std, zoom, threshold, radius, sigma, blend, crop }, rng))
}
