//! Random Erasing (Zhong et al. 2020) as a data method: with probability p, one rectangle of each
//! training image filled with random values, in the loader. Its box sampler is LFM's too.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::settings::check_box;
use super::MethodConfig;
use crate::data::augment::{fill_value, ImageEdit, MethodAugment};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<ErasingConfig>()),
    ..MethodInfo::new(
        "random-erasing",
        "Random Erasing (Zhong et al. 2020): p 0.5, a rectangle of 2-40% of the image filled with random values",
        Build::Data { loader, step: None },
    )
};

/// What Random Erasing writes into its rectangle.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ErasingFill {
    /// Uniform random values per pixel (the paper).
    Random,
    /// The normalisation mean (the CIFAR code's zero after normalising).
    Mean,
}

/// Random Erasing (Zhong et al. 2020) with the paper's defaults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ErasingConfig {
    pub probability: f64,
    /// Area of the rectangle as a fraction of the image, [low, high].
    pub area: [f64; 2],
    /// Aspect ratio h/w, [low, high].
    pub aspect: [f64; 2],
    pub fill: ErasingFill,
}

impl Default for ErasingConfig {
    fn default() -> Self {
        ErasingConfig { probability: 0.5, area: [0.02, 0.4], aspect: [0.3, 1.0 / 0.3], fill: ErasingFill::Random }
    }
}

impl Settings for ErasingConfig {
    const KEY: &'static str = "random_erasing";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        check_box(self.probability, self.area, self.aspect)
    }
}

impl ImageEdit for ErasingConfig {
    fn edit(&self, chw: &mut [f32], shape: (usize, usize, usize), fill: &[f32], rng: &mut dyn rand::RngCore) {
        random_erasing(chw, shape, self, fill, rng);
    }
}

fn loader(m: &MethodConfig, _: &Composition, out: &mut MethodAugment) {
    out.edits.push(Arc::new(m.get_or_default::<ErasingConfig>()));
}

/// Random Erasing's sampler (`CREP` in the released code): area s ~ U[area], aspect r ~ U[aspect],
/// h = round(√(s·H·W·r)), w = round(√(s·H·W/r)), accepted if h < H and w < W (100 tries), then
/// x1 ~ U{0..H−h}, y1 ~ U{0..W−w}. None when no draw fits.
pub fn erasing_box(
    rng: &mut (impl Rng + ?Sized),
    h: usize,
    w: usize,
    area: [f64; 2],
    aspect: [f64; 2],
) -> Option<(usize, usize, usize, usize)> {
    for _ in 0..100 {
        let s = rng.gen_range(area[0]..=area[1]) * (h * w) as f64;
        let r = rng.gen_range(aspect[0]..=aspect[1]);
        let (bh, bw) = ((s * r).sqrt().round() as usize, (s / r).sqrt().round() as usize);
        if bh < h && bw < w {
            return Some((bh, bw, rng.gen_range(0..=h - bh), rng.gen_range(0..=w - bw)));
        }
    }
    None
}

/// Random Erasing: with probability p, one rectangle drawn by [`erasing_box`] filled with uniform
/// random values or `fill`.
pub fn random_erasing(
    chw: &mut [f32],
    (h, w, c): (usize, usize, usize),
    cfg: &ErasingConfig,
    fill: &[f32],
    rng: &mut (impl Rng + ?Sized),
) {
    if rng.gen::<f64>() >= cfg.probability {
        return;
    }
    let Some((bh, bw, y1, x1)) = erasing_box(rng, h, w, cfg.area, cfg.aspect) else { return };
    for ch in 0..c {
        for y in y1..y1 + bh {
            for x in x1..x1 + bw {
                chw[ch * h * w + y * w + x] =
                    if cfg.fill == ErasingFill::Random { rng.gen::<f32>() } else { fill_value(fill, ch) };
            }
        }
    }
}
