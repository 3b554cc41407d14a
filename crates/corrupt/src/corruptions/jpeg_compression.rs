//! Jpeg compression: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `digital::jpeg`.
use crate::corruption::{At, Corruption};
use crate::digital::jpeg;
use crate::{Image, Result};
use rand_chacha::ChaCha8Rng;

pub const ENTRY: Corruption = Corruption { name: "jpeg_compression", family: "digital", apply: jpeg_at };

fn jpeg_at(p: &At, img: &Image, _: &mut ChaCha8Rng) -> Result<Image> {
    jpeg(img, p.pick([80, 65, 58, 50, 40], [25, 18, 15, 10, 7]))
}
