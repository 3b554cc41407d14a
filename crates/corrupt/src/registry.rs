//! The 19 corruptions as one list (docs/corruptions.md): each entry names a corruption and its family
//! and points to the function, next to its operation, that holds its CIFAR and ImageNet parameter
//! tables. [`crate::BENCHMARK`], [`crate::EXTRA`], [`crate::ALL`] and [`crate::family`] derive from it.
pub use crate::corruption::{At, Corruption};

/// Every corruption: the 15 of the benchmark in the order of the CIFAR-10-C tables, then the 4
/// extras. Adding one: its entry beside its function, and one line here (docs/extending.md).
pub const CORRUPTIONS: [Corruption; 19] = [
    crate::ops::GAUSSIAN_NOISE,
    crate::ops::SHOT_NOISE,
    crate::ops::IMPULSE_NOISE,
    crate::ops::DEFOCUS_BLUR,
    crate::blurs::GLASS_BLUR,
    crate::blurs::MOTION_BLUR,
    crate::blurs::ZOOM_BLUR,
    crate::weather::SNOW,
    crate::frost::FROST,
    crate::weather::FOG,
    crate::ops::BRIGHTNESS,
    crate::ops::CONTRAST,
    crate::digital::ELASTIC_TRANSFORM,
    crate::ops::PIXELATE,
    crate::digital::JPEG_COMPRESSION,
    crate::ops::SPECKLE_NOISE,
    crate::ops::GAUSSIAN_BLUR,
    crate::spatter::SPATTER,
    crate::ops::SATURATE,
];

/// How many of [`CORRUPTIONS`], from the start, make up the benchmark.
pub const BENCHMARK_COUNT: usize = 15;

/// The names of `N` entries of [`CORRUPTIONS`] from index `from`.
pub const fn names<const N: usize>(from: usize) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = CORRUPTIONS[from + i].name;
        i += 1;
    }
    out
}

/// The entry called `name`.
pub fn find(name: &str) -> Option<&'static Corruption> {
    CORRUPTIONS.iter().find(|c| c.name == name)
}
