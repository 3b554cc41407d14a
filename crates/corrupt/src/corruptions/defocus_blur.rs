//! Defocus blur: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::defocus_blur`.
use crate::corruption::{At, Corruption};
use crate::ops::defocus_blur;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "defocus_blur", family: "blur", apply: defocus_blur_at };

fn defocus_blur_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)];
    let imagenet = [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)];
    let (r, aa) = p.pick(cifar, imagenet);
    Ok(defocus_blur(img, r, aa))
}
