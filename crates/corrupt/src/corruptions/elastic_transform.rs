//! Elastic transform: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `digital::elastic`.
use crate::corruption::{At, Corruption};
use crate::digital::{elastic, elastic_params};
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "elastic_transform", family: "digital", apply: elastic_at };

fn elastic_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    Ok(elastic(img, elastic_params(p, (img.height as f64, img.width as f64)), rng))
}
