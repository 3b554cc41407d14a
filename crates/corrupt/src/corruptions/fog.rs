//! Fog: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `weather::fog`.
use crate::corruption::{At, Corruption};
use crate::weather::fog;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "fog", family: "weather", apply: fog_at };

fn fog_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    let cifar = [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)];
    let imagenet = [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)];
    let (c, decay) = p.pick(cifar, imagenet);
    Ok(fog(img, c, decay, rng))
}
