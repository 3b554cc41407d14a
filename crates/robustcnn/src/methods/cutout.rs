//! Cutout (DeVries & Taylor 2017) as a data method: one square of each training image set to the
//! normalisation mean, in the loader.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::MethodConfig;
use crate::data::augment::{fill_value, ImageEdit, MethodAugment};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<CutoutConfig>()),
    ..MethodInfo::new(
        "cutout",
        "Cutout (DeVries & Taylor 2017): a 16x16 square of each image set to the mean",
        Build::Data { loader, step: None },
    )
};

/// Cutout (DeVries & Taylor 2017): one square, centred on a uniformly drawn pixel and clipped at the
/// border, filled with the normalisation mean (the reference zeroes it after normalising).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CutoutConfig {
    /// Side of the square in pixels (16 on CIFAR-10).
    pub size: usize,
    /// Probability that an image is cut (1 in the reference; TENET's option has it).
    pub probability: f64,
}

impl Default for CutoutConfig {
    fn default() -> Self {
        CutoutConfig { size: 16, probability: 1.0 }
    }
}

impl Settings for CutoutConfig {
    const KEY: &'static str = "cutout";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        if self.size == 0 {
            return Err(Invalid::Key("size", "must be at least 1 pixel".into()));
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(Invalid::Key("probability", "must be in [0, 1]".into()));
        }
        Ok(())
    }
}

impl ImageEdit for CutoutConfig {
    fn edit(&self, chw: &mut [f32], shape: (usize, usize, usize), fill: &[f32], rng: &mut dyn rand::RngCore) {
        cutout(chw, shape, self, fill, rng);
    }
}

fn loader(m: &MethodConfig, _: &Composition, out: &mut MethodAugment) {
    out.edits.push(Arc::new(m.get_or_default::<CutoutConfig>()));
}

/// Cutout: with probability p, the square of side `size` centred on a uniform pixel (clipped at the
/// border) set to `fill`.
pub fn cutout(
    chw: &mut [f32],
    (h, w, c): (usize, usize, usize),
    cfg: &CutoutConfig,
    fill: &[f32],
    rng: &mut (impl Rng + ?Sized),
) {
    if rng.gen::<f64>() >= cfg.probability {
        return;
    }
    let (cy, cx) = (rng.gen_range(0..h), rng.gen_range(0..w));
    let half = cfg.size / 2;
    let (y1, y2) = (cy.saturating_sub(half), (cy + half).min(h));
    let (x1, x2) = (cx.saturating_sub(half), (cx + half).min(w));
    for ch in 0..c {
        for y in y1..y2 {
            chw[ch * h * w + y * w + x1..ch * h * w + y * w + x2].fill(fill_value(fill, ch));
        }
    }
}
