//! Train-time augmentation on u8 HWC images: random crop with zero padding, horizontal flip, and what
//! methods add on top: AugMix (docs/methods.md §4.2), Cutout and Random Erasing.
use super::augment_settings::{CaConfig, Granularity};
use corrupt::augmix::{augment_and_mix, AugMixParams};
use corrupt::Image;
use rand::Rng;

/// Which augmentations run, with their parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Pad by this many zero pixels on each side, then crop back at a random offset (0 = off).
    pub crop_padding: usize,
    /// Flip horizontally with probability ½.
    pub flip: bool,
}

/// `data.augment` as a recipe writes it: a key left out takes the dataset's default, so that
/// `--set data.augment.crop_padding=4` alone keeps the dataset's flip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentKeys {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop_padding: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flip: Option<bool>,
}

impl AugmentKeys {
    /// The augmentation, each key left out taken from `default`.
    pub fn or(self, default: Augment) -> Augment {
        Augment {
            crop_padding: self.crop_padding.unwrap_or(default.crop_padding),
            flip: self.flip.unwrap_or(default.flip),
        }
    }
}

impl From<Augment> for AugmentKeys {
    fn from(a: Augment) -> Self {
        AugmentKeys { crop_padding: Some(a.crop_padding), flip: Some(a.flip) }
    }
}

/// Draws one image's crop offset and flip; the returned map gives, for output pixel (y, x), its source
/// pixel index (None in the zero padding).
fn draw_crop_flip(
    aug: Option<&Augment>,
    (h, w): (usize, usize),
    rng: &mut impl Rng,
) -> impl Fn(usize, usize) -> Option<usize> {
    let (mut dy, mut dx, mut flip) = (0isize, 0isize, false);
    if let Some(a) = aug {
        if a.crop_padding > 0 {
            let p = a.crop_padding as isize;
            dy = rng.gen_range(-p..=p);
            dx = rng.gen_range(-p..=p);
        }
        flip = a.flip && rng.gen_bool(0.5);
    }
    move |y, x| {
        let sy = y as isize + dy;
        let sx = (if flip { w - 1 - x } else { x }) as isize + dx;
        let inside = sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize;
        inside.then(|| sy as usize * w + sx as usize)
    }
}

/// Writes the augmented `src` (h×w×c u8) into `dst` as f32 CHW in [0,1].
pub fn augment_to_chw(
    src: &[u8],
    (h, w, c): (usize, usize, usize),
    aug: Option<&Augment>,
    rng: &mut impl Rng,
    dst: &mut [f32],
) {
    let source = draw_crop_flip(aug, (h, w), rng);
    for y in 0..h {
        for x in 0..w {
            let s = source(y, x);
            for ch in 0..c {
                dst[ch * h * w + y * w + x] = s.map_or(0.0, |s| src[s * c + ch] as f32 / 255.0);
            }
        }
    }
}

/// AugMix in the loader: how each sample is mixed and what the batch carries.
#[derive(Clone, Debug)]
pub struct AugMixSpec {
    pub params: AugMixParams,
    /// Also deliver two independent AugMix views per sample (the Jensen–Shannon loss); the main image
    /// then stays clean (crop and flip only).
    pub jsd_views: bool,
    /// The epoch holds an AugMix copy (virtual indices 0..N) and a clean copy (N..2N).
    pub clean_copy: bool,
}

/// CA in the loader (docs/methods.md §3.4): one corruption of a list at a severity of a range per image.
#[derive(Clone, Debug)]
pub struct CaSpec {
    pub corruptions: Vec<&'static str>,
    pub severities: [u8; 2],
    pub granularity: Granularity,
    pub clean_fraction: f64,
    /// Deliver CA(x) as an extra view beside the clean image (for ST and FMA) instead of replacing it.
    pub as_view: bool,
}

impl CaSpec {
    /// The loader's CA from its (validated) settings.
    pub fn new(cfg: &CaConfig, as_view: bool) -> CaSpec {
        CaSpec {
            corruptions: corrupt::select(&cfg.augmentations.join(",")).unwrap_or_default(),
            severities: cfg.severities,
            granularity: cfg.granularity,
            clean_fraction: cfg.clean_fraction,
            as_view,
        }
    }

    /// The (corruption, severity) for one image, or None when it stays clean.
    pub fn draw(&self, rng: &mut impl Rng) -> Option<(&'static str, u8)> {
        if self.corruptions.is_empty() || rng.gen::<f64>() < self.clean_fraction {
            return None;
        }
        let name = self.corruptions[rng.gen_range(0..self.corruptions.len())];
        Some((name, rng.gen_range(self.severities[0]..=self.severities[1])))
    }

    /// CA(img) as HWC values in [0,1]; `choice` is a batch-wide draw when the granularity is a batch.
    fn apply(&self, img: &Image, choice: Option<Option<(&'static str, u8)>>, rng: &mut impl Rng) -> Vec<f32> {
        let pick = choice.unwrap_or_else(|| self.draw(rng));
        let seed: u64 = rng.gen();
        let out = pick
            .and_then(|(name, s)| {
                let mut r = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
                corrupt::Corruptor::default().apply(img, name, s, &mut r).ok()
            })
            .unwrap_or_else(|| img.clone());
        out.data.iter().map(|&v| v as f32 / 255.0).collect()
    }
}

/// A data method's edit of one training image: C×H×W values in [0,1], `fill` the per-channel
/// normalisation mean, `rng` the sample's generator.
pub trait ImageEdit: Send + Sync + std::fmt::Debug {
    fn edit(&self, chw: &mut [f32], shape: (usize, usize, usize), fill: &[f32], rng: &mut dyn rand::RngCore);
}

/// Augmentations a method adds on top of crop and flip.
#[derive(Clone, Debug, Default)]
pub struct MethodAugment {
    pub augmix: Option<AugMixSpec>,
    pub ca: Option<CaSpec>,
    /// Edits of each image, in order, after crop, flip, AugMix or CA (Cutout, Random Erasing).
    pub edits: Vec<std::sync::Arc<dyn ImageEdit>>,
    /// Per-channel value Cutout (and mean-filled Random Erasing) write: the model's normalisation
    /// mean, which the model maps to 0 as the reference code's fill after normalising is.
    pub fill: Vec<f32>,
}

impl MethodAugment {
    /// Samples in an epoch over a dataset of `n` (2n with AugMix's clean copy).
    pub fn epoch_len(&self, n: usize) -> usize {
        if self.augmix.as_ref().is_some_and(|a| a.clean_copy) {
            2 * n
        } else {
            n
        }
    }
}

/// HWC u8 after crop and flip (the same draws as [`augment_to_chw`]).
fn crop_flip(src: &[u8], (h, w, c): (usize, usize, usize), aug: Option<&Augment>, rng: &mut impl Rng) -> Vec<u8> {
    let source = draw_crop_flip(aug, (h, w), rng);
    let mut out = vec![0u8; h * w * c];
    for p in 0..h * w {
        if let Some(s) = source(p / w, p % w) {
            out[p * c..(p + 1) * c].copy_from_slice(&src[s * c..(s + 1) * c]);
        }
    }
    out
}

fn hwc_to_chw(src: &[f32], (h, w, c): (usize, usize, usize), dst: &mut [f32]) {
    for p in 0..h * w {
        for ch in 0..c {
            dst[ch * h * w + p] = src[p * c + ch];
        }
    }
}

/// One training sample as f32 CHW images: the main image and its extra views (AugMix's two for the
/// Jensen–Shannon loss, or CA's one for ST and FMA). `aug_copy` says whether this sample is AugMix's
/// copy (false for the clean copy); `ca_choice` is CA's batch-wide draw when its granularity is a batch.
pub fn sample_images(
    src: &[u8],
    shape: (usize, usize, usize),
    aug: Option<&Augment>,
    extra: &MethodAugment,
    (aug_copy, ca_choice): (bool, Option<Option<(&'static str, u8)>>),
    rng: &mut impl Rng,
) -> Vec<Vec<f32>> {
    let (h, w, c) = shape;
    let mut images = Vec::new();
    if let Some(ca) = &extra.ca {
        let img = Image { data: crop_flip(src, shape, aug, rng), height: h, width: w, channels: c };
        let mut push = |hwc: &[f32]| {
            let mut chw = vec![0f32; h * w * c];
            hwc_to_chw(hwc, shape, &mut chw);
            images.push(chw);
        };
        if ca.as_view {
            push(&img.data.iter().map(|&b| b as f32 / 255.0).collect::<Vec<_>>());
        }
        push(&ca.apply(&img, ca_choice, rng));
    } else {
        augmix_images(src, shape, aug, extra.augmix.as_ref().filter(|_| aug_copy), rng, &mut images);
    }
    for chw in &mut images {
        for edit in &extra.edits {
            edit.edit(chw, shape, &extra.fill, rng);
        }
    }
    images
}

/// The main image (crop and flip, AugMix-mixed on AugMix's copy) and AugMix's views if asked for.
fn augmix_images(
    src: &[u8],
    shape: (usize, usize, usize),
    aug: Option<&Augment>,
    augmix: Option<&AugMixSpec>,
    rng: &mut impl Rng,
    images: &mut Vec<Vec<f32>>,
) {
    let (h, w, c) = shape;
    match augmix {
        None => {
            let mut chw = vec![0f32; h * w * c];
            augment_to_chw(src, shape, aug, rng, &mut chw);
            images.push(chw);
        }
        Some(a) => {
            let base = crop_flip(src, shape, aug, rng);
            let img = Image { data: base, height: h, width: w, channels: c };
            let views = if a.jsd_views { 3 } else { 1 };
            for v in 0..views {
                let mut chw = vec![0f32; h * w * c];
                if a.jsd_views && v == 0 {
                    let clean: Vec<f32> = img.data.iter().map(|&b| b as f32 / 255.0).collect();
                    hwc_to_chw(&clean, shape, &mut chw);
                } else {
                    hwc_to_chw(&augment_and_mix(&img, &a.params, rng), shape, &mut chw);
                }
                images.push(chw);
            }
        }
    }
}

/// The fill of channel `ch` (0 when the model has no mean for it).
pub fn fill_value(fill: &[f32], ch: usize) -> f32 {
    fill.get(ch).copied().unwrap_or(0.0)
}
