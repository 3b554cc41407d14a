//! Motion blur: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `blurs::motion_blur`.
use crate::blurs::motion_blur;
use crate::corruption::{At, Corruption};
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "motion_blur", family: "blur", apply: motion_blur_at_severity };

fn motion_blur_at_severity(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5)];
    let imagenet = [(10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0)];
    let (radius, sigma) = p.pick(cifar, imagenet);
    Ok(motion_blur(img, radius, sigma, rng))
}
