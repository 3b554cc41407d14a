//! Parameter presets (METHODS.md §4.1.2 CIFAR, §4.1.5 ImageNet and size-adaptive) and the dispatch
//! from a corruption name and severity to its operation.
use crate::blurs::{glass_blur, motion_blur, zoom_blur};
use crate::digital::{elastic, jpeg, Elastic};
use crate::frost::{frost, textures_for, FrostSource};
use crate::spatter::{spatter, Spatter};
use crate::weather::{fog, snow, Snow, SnowCrop};
use crate::{ops, Error, Image, Result};
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

/// The parameter of severity index `s` from the CIFAR or the ImageNet table.
fn pick<T: Copy>(preset: Preset, cifar: [T; 5], imagenet: [T; 5], s: usize) -> T {
    if preset == Preset::Cifar {
        cifar[s]
    } else {
        imagenet[s]
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
        let (h, w) = (img.height as f64, img.width as f64);
        Ok(match name {
            "gaussian_noise" => ops::gaussian_noise(
                img,
                pick(p, [0.04, 0.06, 0.08, 0.09, 0.10], [0.08, 0.12, 0.18, 0.26, 0.38], s),
                rng,
            ),
            "shot_noise" => {
                ops::shot_noise(img, pick(p, [500.0, 250.0, 100.0, 75.0, 50.0], [60.0, 25.0, 12.0, 5.0, 3.0], s), rng)
            }
            "impulse_noise" => {
                ops::impulse_noise(img, pick(p, [0.01, 0.02, 0.03, 0.05, 0.07], [0.03, 0.06, 0.09, 0.17, 0.27], s), rng)
            }
            "speckle_noise" => {
                ops::speckle_noise(img, pick(p, [0.06, 0.10, 0.12, 0.16, 0.20], [0.15, 0.20, 0.35, 0.45, 0.60], s), rng)
            }
            "gaussian_blur" => {
                ops::gaussian_blur(img, pick(p, [0.4, 0.6, 0.7, 0.8, 1.0], [1.0, 2.0, 3.0, 4.0, 6.0], s))
            }
            "glass_blur" => {
                let cifar = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)];
                let imagenet = [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)];
                let (sigma, delta, iterations) = pick(p, cifar, imagenet, s);
                glass_blur(img, sigma, delta, iterations, rng)
            }
            "defocus_blur" => {
                let cifar = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)];
                let imagenet = [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)];
                let (r, aa) = pick(p, cifar, imagenet, s);
                ops::defocus_blur(img, r, aa)
            }
            "motion_blur" => {
                let cifar = [(6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5)];
                let imagenet = [(10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0)];
                let (radius, sigma) = pick(p, cifar, imagenet, s);
                motion_blur(img, radius, sigma, rng)
            }
            "zoom_blur" => {
                let cifar = [(1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)];
                let imagenet = [(1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)];
                let (end, step) = pick(p, cifar, imagenet, s);
                zoom_blur(img, end, step)
            }
            "snow" => {
                let cifar = [
                    (0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.95),
                    (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.9),
                    (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.9),
                    (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.85),
                    (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.8),
                ];
                let imagenet = [
                    (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
                    (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
                    (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
                    (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
                    (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
                ];
                let (mean, std, zoom, threshold, radius, sigma, blend) = pick(p, cifar, imagenet, s);
                let crop = if p == Preset::Sized { SnowCrop::TopLeftAfterBlur } else { SnowCrop::Centre };
                snow(img, Snow { mean, std, zoom, threshold, radius, sigma, blend, crop }, rng)
            }
            "frost" => {
                let cifar = [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)];
                let imagenet = [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)];
                let (a, b) = pick(p, cifar, imagenet, s);
                frost(img, a, b, &textures_for(&self.frost, p, (img.height, img.width)), rng)
            }
            "fog" => {
                let cifar = [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)];
                let imagenet = [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)];
                let (c, decay) = pick(p, cifar, imagenet, s);
                fog(img, c, decay, rng)
            }
            "brightness" => ops::brightness(img, pick(p, [0.05, 0.10, 0.15, 0.20, 0.30], [0.1, 0.2, 0.3, 0.4, 0.5], s)),
            "contrast" => ops::contrast(img, pick(p, [0.75, 0.50, 0.40, 0.30, 0.15], [0.4, 0.3, 0.2, 0.1, 0.05], s)),
            "saturate" => {
                let cifar = [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)];
                let imagenet = [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)];
                let (a, b) = pick(p, cifar, imagenet, s);
                ops::saturate(img, a, b)
            }
            "jpeg_compression" => jpeg(img, pick(p, [80, 65, 58, 50, 40], [25, 18, 15, 10, 7], s))?,
            "pixelate" => {
                let c = pick(p, [0.95, 0.90, 0.85, 0.75, 0.65], [0.6, 0.5, 0.4, 0.3, 0.25], s);
                ops::pixelate(img, c, p == Preset::Sized)
            }
            "elastic_transform" => elastic(img, elastic_params(p, s, (h, w)), rng),
            "spatter" => {
                let cifar = [
                    (0.62, 0.1, 0.7, 0.7, 0.5, false),
                    (0.65, 0.1, 0.8, 0.7, 0.5, false),
                    (0.65, 0.3, 1.0, 0.69, 0.5, false),
                    (0.65, 0.1, 0.7, 0.69, 0.6, true),
                    (0.65, 0.1, 0.5, 0.68, 0.6, true),
                ];
                let imagenet = [
                    (0.65, 0.3, 4.0, 0.69, 0.6, false),
                    (0.65, 0.3, 3.0, 0.68, 0.6, false),
                    (0.65, 0.3, 2.0, 0.68, 0.5, false),
                    (0.65, 0.3, 1.0, 0.65, 1.5, true),
                    (0.67, 0.4, 1.0, 0.65, 1.5, true),
                ];
                let (mean, std, sigma, threshold, intensity, mud) = pick(p, cifar, imagenet, s);
                spatter(img, Spatter { mean, std, sigma, threshold, intensity, mud }, rng)
            }
            _ => return Err(Error::UnknownCorruption(name.to_string())),
        })
    }
}

/// Elastic parameters: CIFAR's and ImageNet's are fractions of 32 and of 244 px with an affine step
/// (§4.1.2, §4.1.5); the size-adaptive ones are α = 250·[.05 .065 .085 .1 .12], σ = 0.01·side,
/// noise ±0.005·height and no affine step.
fn elastic_params(p: Preset, s: usize, (h, w): (f64, f64)) -> Elastic {
    match p {
        Preset::Cifar | Preset::ImageNet => {
            let cifar = [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)];
            let imagenet =
                [(2.0, 0.7, 0.1), (2.0, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)];
            let size = if p == Preset::Cifar { 32.0 } else { 244.0 };
            let (a, sg, af) = pick(p, cifar, imagenet, s);
            Elastic { alpha: a * size, sigma: (sg * size, sg * size), affine: Some(af * size), noise: 1.0 }
        }
        Preset::Sized => Elastic {
            alpha: 250.0 * [0.05, 0.065, 0.085, 0.1, 0.12][s],
            sigma: (0.01 * h, 0.01 * w),
            affine: None,
            noise: 0.005 * h,
        },
    }
}
