//! Pixelate: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::pixelate`.
use crate::corruption::{At, Corruption};
use crate::ops::pixelate;
use crate::{Image, Preset, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "pixelate", family: "digital", apply: pixelate_at };

fn pixelate_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    let c = p.pick([0.95, 0.90, 0.85, 0.75, 0.65], [0.6, 0.5, 0.4, 0.3, 0.25]);
    Ok(pixelate(img, c, p.preset == Preset::Sized))
}
