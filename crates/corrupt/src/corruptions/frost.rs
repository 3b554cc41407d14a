//! Frost: its registry entry and its parameters for each preset and severity
//! (docs/corruptions.md). The operation itself is `frost::frost`.
use crate::corruption::{At, Corruption};
use crate::frost::{frost, frost_crop, textures_for};
use crate::{Corruptor, Error, Image, Result};
use rand_chacha::ChaCha8Rng;

/// The registry entry of frost, with its CIFAR and ImageNet parameters (docs/corruptions.md).
pub const ENTRY: Corruption = Corruption { name: "frost", family: "weather", apply: frost_at };

/// (a, b) of frost's a·x + b·texture at this preset and severity.
fn weights(p: &At) -> (f64, f64) {
    let cifar = [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)];
    let imagenet = [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)];
    p.pick(cifar, imagenet)
}

fn frost_at(p: &At, img: &Image, rng: &mut ChaCha8Rng) -> Result<Image> {
    let (a, b) = weights(p);
    Ok(frost(img, a, b, &textures_for(p.frost, p.preset, (img.height, img.width)), rng))
}

/// Frost at `severity` with texture `texture` and the crop corner `(y0, x0)` given instead of drawn:
/// what the reference computes when its `np.random.randint` returns these (for tests against it).
pub fn frost_given_crop(
    c: &Corruptor,
    img: &Image,
    severity: u8,
    texture: usize,
    corner: (usize, usize),
) -> Result<Image> {
    if !(1..=5).contains(&severity) {
        return Err(Error::Severity(severity));
    }
    let p = At { preset: c.preset_for(img.height, img.width)?, s: (severity - 1) as usize, frost: &c.frost };
    let (a, b) = weights(&p);
    let textures = textures_for(p.frost, p.preset, (img.height, img.width));
    let t = textures.get(texture).ok_or_else(|| Error::Shape(format!("no frost texture {texture}")))?;
    if corner.0 + img.height > t.height || corner.1 + img.width > t.width {
        return Err(Error::Shape(format!(
            "a {}x{} crop at {corner:?} leaves the {}x{} texture",
            img.height, img.width, t.height, t.width
        )));
    }
    Ok(frost_crop(img, a, b, t, corner))
}
