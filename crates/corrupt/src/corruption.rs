//! What a corruption entry is (docs/corruptions.md): a name, a family and the function that applies
//! it at a severity with its preset's parameters. The list of entries is `registry::CORRUPTIONS`.
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
