//! The settings of the data methods (Cutout, Random Erasing, CA): below both the recipe (config.rs)
//! that holds them and the augmentation (augment.rs) that reads them.
use serde::{Deserialize, Serialize};

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

/// Whether CA draws its augmentation once per sample or once per batch.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Sample,
    Batch,
}

/// CA, combined augmentations (Kapoor et al. 2020; docs/methods.md §3.4, every choice ours and documented):
/// each image gets one corruption drawn from a list at a severity drawn from a range.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// Corruption names (`robustcnn corrupt --list`); default the paper's families: photometric, blur, noise.
    pub augmentations: Vec<String>,
    /// Severity range [low, high], both in 1–5, drawn uniformly.
    pub severities: [u8; 2],
    pub granularity: Granularity,
    /// Probability that an image stays clean.
    pub clean_fraction: f64,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            augmentations: [
                "brightness",
                "contrast",
                "gaussian_blur",
                "defocus_blur",
                "motion_blur",
                "gaussian_noise",
                "shot_noise",
                "impulse_noise",
            ]
            .map(String::from)
            .to_vec(),
            severities: [1, 5],
            granularity: Granularity::Sample,
            clean_fraction: 0.0,
        }
    }
}
