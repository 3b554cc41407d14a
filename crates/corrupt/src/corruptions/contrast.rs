//! Contrast: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::contrast`.
use crate::corruption::{At, Corruption};
use crate::ops::contrast;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "contrast", family: "digital", apply: contrast_at };

fn contrast_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    Ok(contrast(img, p.pick([0.75, 0.50, 0.40, 0.30, 0.15], [0.4, 0.3, 0.2, 0.1, 0.05])))
}
