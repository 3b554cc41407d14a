//! Zoom blur: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `blurs::zoom_blur`.
use crate::blurs::zoom_blur;
use crate::corruption::{At, Corruption};
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "zoom_blur", family: "blur", apply: zoom_blur_at };

fn zoom_blur_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)];
    let imagenet = [(1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)];
    let (end, step) = p.pick(cifar, imagenet);
    Ok(zoom_blur(img, end, step))
}
