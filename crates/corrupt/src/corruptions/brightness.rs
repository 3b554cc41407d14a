//! Brightness: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `ops::brightness`.
use crate::corruption::{At, Corruption};
use crate::ops::brightness;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "brightness", family: "weather", apply: brightness_at };

fn brightness_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    Ok(brightness(img, p.pick([0.05, 0.10, 0.15, 0.20, 0.30], [0.1, 0.2, 0.3, 0.4, 0.5])))
}
