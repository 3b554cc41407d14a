//! Frost: a crop of a frost texture blended into the image (docs/methods.md §4.1.2). The reference ships
//! six photographs of frost; this crate draws procedural ones (ice dendrites over a plasma haze) and
//! reads the photographs from a directory when the user holds them (`--frost-dir`).
use crate::image::clip_to_byte;
use crate::opencv::resize_bilinear;
use crate::pillow::box_resize;
use crate::scipy::gaussian_nearest;
use crate::weather::plasma_fractal;
use crate::{Error, Image, Preset, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// How many textures the reference draws from (`np.random.randint(5)`).
pub const DRAWN: usize = 5;

/// Where frost textures come from.
#[derive(Clone, Debug)]
pub enum FrostSource {
    /// Drawn by [`procedural_texture`], sized to the image.
    Procedural,
    /// Photographs read from a directory, sorted by file name; the first five are used.
    Photographs(Arc<Photographs>),
}

/// Frost photographs and their copies scaled for each preset and image size.
#[derive(Debug)]
pub struct Photographs {
    originals: Vec<Image>,
    scaled: Cache<(Preset, usize, usize)>,
}

impl FrostSource {
    /// Reads every PNG or JPEG file in `dir` (sorted by name) as an RGB frost texture.
    pub fn from_dir(dir: &Path) -> Result<FrostSource> {
        let err = |what: String| Error::File { path: dir.to_path_buf(), what };
        let entries = std::fs::read_dir(dir).map_err(|e| err(format!("cannot read the frost directory: {e}")))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
                matches!(ext.as_str(), "png" | "jpg" | "jpeg")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(err("holds no .png or .jpg frost textures (expected e.g. frost1.png … frost6.jpg)".into()));
        }
        let textures = files
            .iter()
            .take(DRAWN)
            .map(|p| {
                let rgb = image::open(p)
                    .map_err(|e| Error::File { path: p.clone(), what: format!("not a readable image: {e}") })?
                    .to_rgb8();
                let (w, h) = rgb.dimensions();
                Image::new(rgb.into_raw(), h as usize, w as usize, 3)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FrostSource::Photographs(Arc::new(Photographs { originals: textures, scaled: OnceLock::new() })))
    }
}

/// A procedural frost texture of side `side`: ice dendrites (a trunk with ±60° side branches, as ice
/// crystals grow) drawn over a faint plasma haze, softened, tinted blue-white. Deterministic in `index`.
pub fn procedural_texture(side: usize, index: usize) -> Image {
    let mut rng = ChaCha8Rng::seed_from_u64(0xF205 + index as u64);
    let mut ice = vec![0.0f64; side * side];
    let seeds = (side * side / 600).max(2);
    for _ in 0..seeds {
        let (y, x) = (rng.gen_range(0.0..side as f64), rng.gen_range(0.0..side as f64));
        let angle = rng.gen_range(0.0..std::f64::consts::TAU);
        let length = rng.gen_range(0.05..0.15) * side as f64;
        let strength = rng.gen_range(0.5..1.0);
        grow(&mut ice, side, (y, x, angle), length, strength, 3, &mut rng);
    }
    let ice = gaussian_nearest(&ice, side, side, 0.6);
    let haze = plasma_fractal(side.next_power_of_two(), 2.0, &mut rng);
    let hs = side.next_power_of_two();
    let value = |i: usize| (0.35 * haze[(i / side) * hs + i % side] + ice[i]).clamp(0.0, 1.0);
    let data = (0..side * side).flat_map(|i| [0.80, 0.90, 1.0].map(|t| (value(i) * t * 255.0) as u8)).collect();
    Image { data, height: side, width: side, channels: 3 }
}

/// Draws one dendrite branch from (y, x) along `angle`, jittering its direction, with side branches
/// at ±60° that are half as long, down to `depth` levels.
fn grow(
    ice: &mut [f64],
    side: usize,
    start: (f64, f64, f64),
    length: f64,
    strength: f64,
    depth: u32,
    rng: &mut ChaCha8Rng,
) {
    let (mut y, mut x, mut angle) = start;
    let steps = (length / 0.7) as usize;
    for s in 0..steps {
        angle += rng.gen_range(-0.08..0.08);
        y += 0.7 * angle.sin();
        x += 0.7 * angle.cos();
        if y < 0.0 || x < 0.0 || y >= side as f64 || x >= side as f64 {
            return;
        }
        let i = y as usize * side + x as usize;
        ice[i] = (ice[i] + strength).min(1.0);
        if depth > 0 && s > 2 && rng.gen::<f64>() < 0.08 {
            let turn = if rng.gen::<bool>() { 1.0 } else { -1.0 } * std::f64::consts::FRAC_PI_3;
            grow(
                ice,
                side,
                (y, x, angle + turn),
                length * 0.5 * (1.0 - s as f64 / steps as f64),
                strength * 0.8,
                depth - 1,
                rng,
            );
        }
    }
}

/// A set of textures, shared.
type Textures = Arc<Vec<Image>>;
/// A process-wide store of texture sets.
type Cache<K> = OnceLock<Mutex<HashMap<K, Textures>>>;

/// The set stored under `key`, made by `make` on first use.
fn cached<K: std::hash::Hash + Eq>(cache: &Cache<K>, key: K, make: impl FnOnce() -> Vec<Image>) -> Textures {
    let store = cache.get_or_init(Default::default);
    if let Some(set) = store.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return set.clone();
    }
    let set = Arc::new(make());
    store.lock().unwrap_or_else(|e| e.into_inner()).insert(key, set.clone());
    set
}

/// The side procedural textures are drawn at, before scaling to an image.
const PROCEDURAL_SIDE: usize = 512;

/// Procedural textures for images whose larger side is `image_side`, made once per size for the whole
/// process: drawn at 512 px and scaled to 4.5× the image side, so that a crop covers about the share
/// of a texture that the reference's crops cover of its photographs (32 of ~200 px for CIFAR, 224 of
/// ~1000 px for ImageNet). Shrinking uses PIL's BOX filter, enlarging is bilinear.
fn procedural_set(image_side: usize) -> Textures {
    static CACHE: Cache<usize> = OnceLock::new();
    cached(&CACHE, image_side, || {
        let side = (image_side as f64 * 4.5).ceil() as usize;
        let scale = |t: Image| {
            if side <= PROCEDURAL_SIDE {
                let data = box_resize(&t.data, (t.height, t.width, 3), (side, side));
                Image { data, height: side, width: side, channels: 3 }
            } else {
                rescale(&t, side as f64 / PROCEDURAL_SIDE as f64)
            }
        };
        (0..DRAWN).map(|i| scale(procedural_texture(PROCEDURAL_SIDE, i))).collect()
    })
}

/// Resizes an RGB texture (bilinear) by `factor`, rounding the new size.
fn rescale(t: &Image, factor: f64) -> Image {
    let (oh, ow) = (((t.height as f64) * factor).round() as usize, ((t.width as f64) * factor).round() as usize);
    let planes: Vec<Vec<f64>> =
        t.unit_planes().iter().map(|p| resize_bilinear(p, (t.height, t.width), (oh.max(1), ow.max(1)))).collect();
    Image { height: oh.max(1), width: ow.max(1), ..t.clone() }.from_unit_planes(&planes)
}

/// A photograph brought to the scale a preset uses: ×0.2 for CIFAR (`make_cifar_c.py`), as is for
/// ImageNet; for the sized preset, enlarged by 1.1× the factor that makes it cover the image, to the
/// size rounded up, with OpenCV's bicubic resize (`imagecorruptions.frost`); and whenever
/// the texture is still smaller than the image, enlarged by that factor bilinearly.
fn scaled_photo(t: &Image, preset: Preset, (h, w): (usize, usize)) -> Image {
    let t = match preset {
        Preset::Cifar => rescale(t, 0.2),
        Preset::ImageNet => t.clone(),
        Preset::Sized => {
            let f = cover(t, (h, w)) * 1.1;
            let (oh, ow) = ((t.height as f64 * f).ceil() as usize, (t.width as f64 * f).ceil() as usize);
            let data = crate::opencv::resize_cubic_u8(&t.data, (t.height, t.width, 3), (oh, ow));
            return Image { data, height: oh, width: ow, channels: 3 };
        }
    };
    if t.height < h || t.width < w {
        rescale(&t, cover(&t, (h, w)) * 1.1)
    } else {
        t
    }
}

/// The factor (≥ 1) that makes a texture cover an h×w image.
fn cover(t: &Image, (h, w): (usize, usize)) -> f64 {
    (h as f64 / t.height as f64).max(w as f64 / t.width as f64).max(1.0)
}

/// Frost textures ready for one image size.
pub(crate) fn textures_for(source: &FrostSource, preset: Preset, size: (usize, usize)) -> Textures {
    match source {
        FrostSource::Procedural => procedural_set(size.0.max(size.1)),
        FrostSource::Photographs(photos) => cached(&photos.scaled, (preset, size.0, size.1), || {
            photos.originals.iter().map(|t| scaled_photo(t, preset, size)).collect()
        }),
    }
}

/// Frost: a·x + b·crop, in 0–255 units, clipped; the texture index and the crop corner are drawn in
/// the reference's order. Gray images get the crop's gray level (0.2989 R + 0.5870 G + 0.1140 B).
pub fn frost(img: &Image, a: f64, b: f64, textures: &[Image], rng: &mut impl Rng) -> Image {
    let (h, w) = (img.height, img.width);
    let t = &textures[rng.gen_range(0..textures.len().min(DRAWN))];
    let y0 = if t.height > h { rng.gen_range(0..t.height - h) } else { 0 };
    let x0 = if t.width > w { rng.gen_range(0..t.width - w) } else { 0 };
    frost_crop(img, a, b, t, (y0, x0))
}

/// Frost with the crop of `t` whose top-left corner is `(y0, x0)`: a·x + b·crop, clipped.
pub fn frost_crop(img: &Image, a: f64, b: f64, t: &Image, (y0, x0): (usize, usize)) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let texel = |y: usize, x: usize, k: usize| t.data[((y + y0) * t.width + x + x0) * 3 + k] as f64;
    let data = (0..h * w * c)
        .map(|i| {
            let (y, x, k) = (i / c / w, i / c % w, i % c);
            let f = if c == 3 {
                texel(y, x, k)
            } else {
                0.2989 * texel(y, x, 0) + 0.5870 * texel(y, x, 1) + 0.1140 * texel(y, x, 2)
            };
            clip_to_byte(a * img.data[i] as f64 + b * f)
        })
        .collect();
    Image { data, ..img.clone() }
}
