//! Common corruptions for robustness benchmarks (Hendrycks & Dietterich 2019; docs/methods.md §4.1), on
//! u8 HWC images of any size, gray or RGB, with every random draw from a seeded generator.
//!
//! All 19 corruptions with three parameter presets ([`Preset`]): the CIFAR-10-C generator
//! (`make_cifar_c.py`), the ImageNet-C one (`make_imagenet_c.py`) and the size-adaptive
//! `imagecorruptions`. Where an operation cannot be bit-identical to the Python reference (ImageMagick,
//! OpenCV fixed-point resampling, NumPy's random streams), its doc comment says what differs.
pub mod augmix;
pub mod batch;
pub mod blurs;
pub mod byte_noise;
mod color;
pub mod corruption;
pub mod corruptions;
pub mod digital;
pub mod fft_filter;
pub mod frost;
pub mod geometry;
mod image;
mod libjpeg;
pub mod npy;
pub mod opencv;
pub mod ops;
pub mod pillow;
mod presets;
pub mod registry;
pub mod scipy;
mod simd;
pub mod spatter;
pub mod weather;
mod wyrand;

pub use crate::batch::{corrupt_set, ImageSet};
pub use crate::frost::FrostSource;
pub use crate::image::{sample_picture, Image};
pub use crate::presets::{Corruptor, Preset};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown corruption '{0}' (known: {list}; groups: {groups})", list = ALL.join(", "), groups = GROUPS.join(", "))]
    UnknownCorruption(String),
    #[error("severity {0} is outside 1–5")]
    Severity(u8),
    #[error("{0}")]
    Shape(String),
    #[error("{path}: {what}")]
    File { path: std::path::PathBuf, what: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The 15 benchmark corruptions, in the order of the CIFAR-10-C tables (docs/corruptions.md).
pub const BENCHMARK: [&str; 15] = registry::names::<{ registry::BENCHMARK_COUNT }>(0);

/// The 4 extra ("validation") corruptions.
pub const EXTRA: [&str; 4] = registry::names::<4>(registry::BENCHMARK_COUNT);

/// All 19: the benchmark ones, then the extras.
pub const ALL: [&str; 19] = registry::names::<19>(0);

/// Group names, as `imagecorruptions.get_corruption_names` takes them.
pub const GROUPS: [&str; 7] = ["common", "validation", "all", "noise", "blur", "weather", "digital"];

/// The family of a corruption (noise, blur, weather, digital, or extra); extra for unknown names.
pub fn family(name: &str) -> &'static str {
    registry::find(name).map_or("extra", |c| c.family)
}

/// The corruptions of a group, or None for an unknown group name.
pub fn group(name: &str) -> Option<Vec<&'static str>> {
    Some(match name {
        "common" => BENCHMARK.to_vec(),
        "validation" => EXTRA.to_vec(),
        "all" => ALL.to_vec(),
        "noise" | "blur" | "weather" | "digital" => BENCHMARK.iter().copied().filter(|c| family(c) == name).collect(),
        _ => return None,
    })
}

/// A comma-separated list of corruption and group names, expanded in order without repeats.
pub fn select(spec: &str) -> Result<Vec<&'static str>> {
    let mut out: Vec<&'static str> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let names = match group(item) {
            Some(g) => g,
            None => {
                vec![*ALL.iter().find(|&&c| c == item).ok_or_else(|| Error::UnknownCorruption(item.to_string()))?]
            }
        };
        names.into_iter().for_each(|n| {
            if !out.contains(&n) {
                out.push(n)
            }
        });
    }
    if out.is_empty() {
        return Err(Error::UnknownCorruption(spec.to_string()));
    }
    Ok(out)
}

/// A generator for one (seed, corruption, severity, image index), so the same seed gives the same
/// bytes whatever the thread count or order.
pub fn rng_for(seed: u64, corruption: &str, severity: u8, index: u64) -> ChaCha8Rng {
    let name = corruption.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let z = seed ^ name.rotate_left(17) ^ (severity as u64).rotate_left(40) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ChaCha8Rng::seed_from_u64(splitmix_mix(z))
}

/// SplitMix64's output mix (Steele, Lea & Flood 2014): a well-spread seed from the combined key.
fn splitmix_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Applies corruption `name` at `severity` (1–5) with the preset for the image's size and procedural
/// frost; see [`Corruptor`] to choose.
pub fn corrupt(img: &Image, name: &str, severity: u8, rng: &mut ChaCha8Rng) -> Result<Image> {
    Corruptor::default().apply(img, name, severity, rng)
}
