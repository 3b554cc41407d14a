//! The 19 corruptions as one list (docs/corruptions.md): each entry names a corruption and its family
//! and points to the function, next to its operation, that holds its CIFAR and ImageNet parameter
//! tables. [`crate::BENCHMARK`], [`crate::EXTRA`], [`crate::ALL`] and [`crate::family`] derive from it.
use crate::{FrostSource, Image, Preset, Result};
use rand_chacha::ChaCha8Rng;

/// What a corruption's parameters depend on: the preset, the severity index (0 for severity 1 … 4
/// for 5), the frost source, and the image size the size-adaptive preset scales with.
pub struct At<'a> {
    pub preset: Preset,
    pub s: usize,
    pub frost: &'a FrostSource,
}

impl At<'_> {
    /// The parameter of this severity from the CIFAR table, or from the ImageNet one (which the
    /// size-adaptive preset shares).
    pub fn pick<T: Copy>(&self, cifar: [T; 5], imagenet: [T; 5]) -> T {
        if self.preset == Preset::Cifar {
            cifar[self.s]
        } else {
            imagenet[self.s]
        }
    }
}

/// One corruption: its name, its family and how it is applied.
pub struct Corruption {
    pub name: &'static str,
    /// noise, blur, weather or digital for the 15 benchmark corruptions; extra for the other 4.
    pub family: &'static str,
    pub apply: fn(&At, &Image, &mut ChaCha8Rng) -> Result<Image>,
}

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
