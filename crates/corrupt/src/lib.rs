//! Common corruptions for robustness benchmarks (Hendrycks & Dietterich 2019; METHODS.md §4.1), on
//! u8 HWC images of any size, gray or RGB, with every random draw from a seeded generator.
//!
//! This crate is growing: the corruptions listed in [`IMPLEMENTED`] follow the CIFAR-10-C generator
//! (`make_cifar_c.py`) parameter for parameter; the others of the 19 are not here yet.
mod color;
pub mod filters;
mod image;
pub mod npy;
pub mod ops;

pub use crate::image::Image;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown corruption '{0}' (implemented: {list})", list = IMPLEMENTED.join(", "))]
    UnknownCorruption(String),
    #[error("severity {0} is outside 1–5")]
    Severity(u8),
    #[error("{0}")]
    Shape(String),
    #[error("{path}: {what}")]
    File { path: std::path::PathBuf, what: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The 15 benchmark corruptions, in the order of the CIFAR-10-C tables (METHODS.md §4.1.1).
pub const BENCHMARK: [&str; 15] = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
];

/// The 4 extra ("validation") corruptions.
pub const EXTRA: [&str; 4] = ["speckle_noise", "gaussian_blur", "spatter", "saturate"];

/// The corruptions this version implements.
pub const IMPLEMENTED: [&str; 10] = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "gaussian_blur",
    "defocus_blur",
    "brightness",
    "contrast",
    "saturate",
    "pixelate",
];

/// A generator for one (seed, corruption, severity, image index), so the same seed gives the same
/// bytes whatever the thread count or order.
pub fn rng_for(seed: u64, corruption: &str, severity: u8, index: u64) -> ChaCha8Rng {
    let name = corruption.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let mut z =
        seed ^ name.rotate_left(17) ^ (severity as u64).rotate_left(40) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// Applies corruption `name` at `severity` (1–5) with the CIFAR-10-C parameters.
pub fn corrupt(img: &Image, name: &str, severity: u8, rng: &mut ChaCha8Rng) -> Result<Image> {
    if !(1..=5).contains(&severity) {
        return Err(Error::Severity(severity));
    }
    let s = (severity - 1) as usize;
    Ok(match name {
        "gaussian_noise" => ops::gaussian_noise(img, [0.04, 0.06, 0.08, 0.09, 0.10][s], rng),
        "shot_noise" => ops::shot_noise(img, [500.0, 250.0, 100.0, 75.0, 50.0][s], rng),
        "impulse_noise" => ops::impulse_noise(img, [0.01, 0.02, 0.03, 0.05, 0.07][s], rng),
        "speckle_noise" => ops::speckle_noise(img, [0.06, 0.10, 0.12, 0.16, 0.20][s], rng),
        "gaussian_blur" => ops::gaussian_blur(img, [0.4, 0.6, 0.7, 0.8, 1.0][s]),
        "defocus_blur" => {
            let (r, aa) = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)][s];
            ops::defocus_blur(img, r, aa)
        }
        "brightness" => ops::brightness(img, [0.05, 0.10, 0.15, 0.20, 0.30][s]),
        "contrast" => ops::contrast(img, [0.75, 0.50, 0.40, 0.30, 0.15][s]),
        "saturate" => {
            let (a, b) = [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)][s];
            ops::saturate(img, a, b)
        }
        "pixelate" => ops::pixelate(img, [0.95, 0.90, 0.85, 0.75, 0.65][s]),
        _ => return Err(Error::UnknownCorruption(name.to_string())),
    })
}
