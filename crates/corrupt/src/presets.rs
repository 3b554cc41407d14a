//! Parameter presets (docs/corruptions.md: CIFAR, ImageNet and size-adaptive) and the dispatch from a
//! corruption name and severity to its entry in [`crate::registry`].
use crate::corruption::At;
use crate::frost::FrostSource;
use crate::registry;
use crate::{Error, Image, Result};
use rand_chacha::ChaCha8Rng;

/// Which generator's parameters to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// `make_cifar_c.py`, made for 32×32 images.
    Cifar,
    /// `make_imagenet_c.py`, made for 224×224 images.
    ImageNet,
    /// `imagecorruptions` (bethgelab): the ImageNet parameters adapted to any size ≥ 32 px — elastic
    /// without the affine step and scaled to the size, pixelate enlarging with NEAREST.
    Sized,
}

impl Preset {
    pub const NAMES: [&'static str; 3] = ["cifar", "imagenet", "sized"];

    /// A preset by name.
    pub fn parse(name: &str) -> Result<Preset> {
        match name {
            "cifar" => Ok(Preset::Cifar),
            "imagenet" => Ok(Preset::ImageNet),
            "sized" => Ok(Preset::Sized),
            _ => Err(Error::Shape(format!("unknown preset '{name}' (known: {})", Preset::NAMES.join(", ")))),
        }
    }

    /// The preset for an image size: CIFAR up to 64 px, ImageNet at exactly 224×224, else size-adaptive.
    pub fn for_size(height: usize, width: usize) -> Preset {
        match (height, width) {
            (h, w) if h.max(w) <= 64 => Preset::Cifar,
            (224, 224) => Preset::ImageNet,
            _ => Preset::Sized,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Cifar => "cifar",
            Preset::ImageNet => "imagenet",
            Preset::Sized => "sized",
        }
    }
}

/// Corrupts images with a fixed preset (or one chosen by each image's size) and frost source.
#[derive(Clone, Debug)]
pub struct Corruptor {
    /// None: [`Preset::for_size`] of each image.
    pub preset: Option<Preset>,
    pub frost: FrostSource,
}

impl Default for Corruptor {
    fn default() -> Self {
        Corruptor { preset: None, frost: FrostSource::Procedural }
    }
}

impl Corruptor {
    /// A corruptor with one preset for every image.
    pub fn with_preset(preset: Preset) -> Corruptor {
        Corruptor { preset: Some(preset), ..Corruptor::default() }
    }

    /// The preset for images of this size; an error where the size-adaptive preset meets an image
    /// under 32×32 px, which its reference (`imagecorruptions`) refuses too.
    pub fn preset_for(&self, height: usize, width: usize) -> Result<Preset> {
        let preset = self.preset.unwrap_or_else(|| Preset::for_size(height, width));
        if preset == Preset::Sized && height.min(width) < 32 {
            return Err(Error::Shape(format!(
                "the sized preset (imagecorruptions) needs images of at least 32x32 px, as its reference \
                 does; these are {height}x{width} (the cifar preset is made for small images)"
            )));
        }
        Ok(preset)
    }

    /// Applies corruption `name` at `severity` (1–5); every random draw comes from `rng`.
    pub fn apply(&self, img: &Image, name: &str, severity: u8, rng: &mut ChaCha8Rng) -> Result<Image> {
        if !(1..=5).contains(&severity) {
            return Err(Error::Severity(severity));
        }
        let s = (severity - 1) as usize;
        let p = self.preset_for(img.height, img.width)?;
        let corruption = registry::find(name).ok_or_else(|| Error::UnknownCorruption(name.to_string()))?;
        (corruption.apply)(&At { preset: p, s, frost: &self.frost }, img, rng)
    }
}
