//! Gaussian blur: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::gaussian_blur`.
use crate::corruption::{At, Corruption};
use crate::ops::gaussian_blur;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "gaussian_blur", family: "extra", apply: gaussian_blur_at };

fn gaussian_blur_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    Ok(gaussian_blur(img, p.pick([0.4, 0.6, 0.7, 0.8, 1.0], [1.0, 2.0, 3.0, 4.0, 6.0])))
}
