//! Train-time augmentation on u8 HWC images: random crop with zero padding, horizontal flip.
use rand::Rng;

/// Which augmentations run, with their parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Pad by this many zero pixels on each side, then crop back at a random offset (0 = off).
    pub crop_padding: usize,
    /// Flip horizontally with probability ½.
    pub flip: bool,
}

/// Writes the augmented `src` (h×w×c u8) into `dst` as f32 CHW in [0,1].
pub fn augment_to_chw(
    src: &[u8],
    (h, w, c): (usize, usize, usize),
    aug: Option<&Augment>,
    rng: &mut impl Rng,
    dst: &mut [f32],
) {
    let (mut dy, mut dx, mut flip) = (0isize, 0isize, false);
    if let Some(a) = aug {
        if a.crop_padding > 0 {
            let p = a.crop_padding as isize;
            dy = rng.gen_range(-p..=p);
            dx = rng.gen_range(-p..=p);
        }
        flip = a.flip && rng.gen_bool(0.5);
    }
    for y in 0..h {
        let sy = y as isize + dy;
        for x in 0..w {
            let xx = if flip { w - 1 - x } else { x };
            let sx = xx as isize + dx;
            let inside = sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize;
            for ch in 0..c {
                dst[ch * h * w + y * w + x] =
                    if inside { src[(sy as usize * w + sx as usize) * c + ch] as f32 / 255.0 } else { 0.0 };
            }
        }
    }
}
