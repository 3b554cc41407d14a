//! Saturate: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::saturate`.
use crate::corruption::{At, Corruption};
use crate::ops::saturate;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "saturate", family: "extra", apply: saturate_at };

fn saturate_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)];
    let imagenet = [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)];
    let (a, b) = p.pick(cifar, imagenet);
    Ok(saturate(img, a, b))
}
