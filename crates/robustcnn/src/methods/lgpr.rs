//! Local Grayscale Patch Replacement (LGPR), the augmentation of LFM's re-ID training script: with
//! probability p, one Random-Erasing rectangle of the image replaced by its own grayscale version
//! (docs/reid.md §2).
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::random_erasing::erasing_box;
use super::settings::check_box;
use super::MethodConfig;
use crate::data::augment::{ImageEdit, MethodAugment};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<LgprConfig>()),
    ..MethodInfo::new(
        "lgpr",
        "Local Grayscale Patch Replacement (LFM's re-ID script): p 0.4, a 2-40% rectangle turned grayscale",
        Build::Data { loader, step: None },
    )
};

/// LGPR with the settings of LFM's training script.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LgprConfig {
    pub probability: f64,
    /// Area of the rectangle as a fraction of the image, [low, high].
    pub area: [f64; 2],
    /// Aspect ratio h/w, [low, high].
    pub aspect: [f64; 2],
}

impl Default for LgprConfig {
    fn default() -> Self {
        LgprConfig { probability: 0.4, area: [0.02, 0.4], aspect: [0.3, 1.0 / 0.3] }
    }
}

impl Settings for LgprConfig {
    const KEY: &'static str = "lgpr";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        check_box(self.probability, self.area, self.aspect)
    }
}

impl ImageEdit for LgprConfig {
    fn edit(&self, chw: &mut [f32], shape: (usize, usize, usize), _: &[f32], rng: &mut dyn rand::RngCore) {
        lgpr(chw, shape, self, rng);
    }
}

fn loader(m: &MethodConfig, _: &Composition, out: &mut MethodAugment) {
    out.edits.push(Arc::new(m.get_or_default::<LgprConfig>()));
}

/// PIL's "L" conversion of one pixel given in [0, 1]: (299 R + 587 G + 114 B) / 1000 on the 8-bit
/// values, rounded as PIL's fixed point does, back in [0, 1].
pub fn luma(r: f32, g: f32, b: f32) -> f32 {
    let q = |v: f32| (v * 255.0).round().clamp(0.0, 255.0) as u32;
    ((q(r) * 19595 + q(g) * 38470 + q(b) * 7471 + 0x8000) >> 16) as f32 / 255.0
}

/// LGPR: with probability p, the rectangle [`erasing_box`] draws set to its grayscale in every
/// channel. Gray images are left as they are.
pub fn lgpr(chw: &mut [f32], (h, w, c): (usize, usize, usize), cfg: &LgprConfig, rng: &mut (impl Rng + ?Sized)) {
    if rng.gen::<f64>() >= cfg.probability {
        return;
    }
    let Some((bh, bw, y1, x1)) = erasing_box(rng, h, w, cfg.area, cfg.aspect) else { return };
    if c != 3 {
        return;
    }
    let plane = h * w;
    for y in y1..y1 + bh {
        for x in x1..x1 + bw {
            let i = y * w + x;
            let v = luma(chw[i], chw[plane + i], chw[2 * plane + i]);
            for ch in 0..3 {
                chw[ch * plane + i] = v;
            }
        }
    }
}
