//! The settings of CA, combined augmentations: below both the method (methods/ca.rs) that owns them
//! and the loader's augmentation (augment.rs) that reads them.
use serde::{Deserialize, Serialize};

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
