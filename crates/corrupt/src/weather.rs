//! Snow and fog (METHODS.md §4.1.2, §4.1.5); frost is in `frost.rs`.
use crate::blurs::{motion_blur_values, motion_kernel};
use crate::geometry::{clipped_zoom, zoom_centre_crop};
use crate::image::unit_to_byte;
use crate::Image;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Snow parameters: layer mean and std, zoom, threshold, motion radius and σ, blend, and where the
/// zoomed layer is cut back to the image.
#[derive(Clone, Copy, Debug)]
pub struct Snow {
    pub mean: f64,
    pub std: f64,
    pub zoom: f64,
    pub threshold: f64,
    pub radius: usize,
    pub sigma: f64,
    pub blend: f64,
    pub crop: SnowCrop,
}

/// Where the zoomed snow layer (larger than the image by up to ⌈z⌉ px per axis) is cut back to the
/// image size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnowCrop {
    /// `make_cifar_c.py` and `make_imagenet_c.py`: `clipped_zoom` trims it around its centre, before
    /// the motion blur.
    Centre,
    /// `imagecorruptions`: the whole zoomed layer is motion-blurred (so the image's right and bottom
    /// edges are not the blur's edges), then its top-left H×W is kept.
    TopLeftAfterBlur,
}

/// OpenCV's RGB→gray weights (`cvtColor(COLOR_RGB2GRAY)`), as float32.
const CV_GRAY: [f32; 3] = [0.299, 0.587, 0.114];

/// Snow: a N(μ, σ) layer, clipped-zoomed, zeroed below the threshold, clipped to [0,1], motion-blurred
/// at an angle from U(−135°, −45°) and rounded to u8 levels; the image is lightened to
/// blend·x + (1−blend)·max(x, 1.5·gray(x) + 0.5), then the layer and its 180° rotation are added.
/// The layer is blurred with the ImageMagick-free motion blur of `imagecorruptions`.
pub fn snow(img: &Image, p: Snow, rng: &mut impl Rng) -> Image {
    let normal = Normal::new(p.mean, p.std).expect("positive std");
    let layer: Vec<f64> = (0..img.height * img.width).map(|_| normal.sample(rng)).collect();
    let angle = rng.gen_range(-135.0..-45.0);
    snow_from_draws(img, p, &layer, angle)
}

/// [`snow`] given its draws: the H×W N(μ, σ) layer and the angle in degrees. The reference's dtypes:
/// the image is float32 (x/255) and lightened in float32 (the gray value in OpenCV's weights and
/// left-to-right order: OpenCV's vectorised `cvtColor` may differ in the last float32 bit), the layer
/// float64; their sum is clipped, scaled by 255 and truncated.
pub fn snow_from_draws(img: &Image, p: Snow, layer: &[f64], angle: f64) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let (zoomed, zh, zw) = match p.crop {
        SnowCrop::Centre => (clipped_zoom(layer, (h, w, 1), p.zoom), h, w),
        SnowCrop::TopLeftAfterBlur => zoom_centre_crop(layer, (h, w, 1), p.zoom),
    };
    let zoomed: Vec<f64> = zoomed.into_iter().map(|v| if v < p.threshold { 0.0 } else { v.min(1.0) }).collect();
    let blurred = motion_blur_values(&zoomed, (zh, zw, 1), &motion_kernel(p.radius, p.sigma), angle);
    let layer: Vec<f64> = blurred
        .chunks_exact(zw)
        .take(h)
        .flat_map(|row| &row[..w])
        .map(|&v| (v * 255.0).round_ties_even().clamp(0.0, 255.0) / 255.0)
        .collect();
    let unit: [f32; 256] = std::array::from_fn(|v| v as f32 / 255.0);
    let (keep, lift) = (p.blend as f32, (1.0 - p.blend) as f32);
    let mut data = Vec::with_capacity(h * w * c);
    for (px, pixel) in img.data.chunks_exact(c).enumerate() {
        let x = |k: usize| unit[pixel[k] as usize];
        let gray = if c == 3 { x(0) * CV_GRAY[0] + x(1) * CV_GRAY[1] + x(2) * CV_GRAY[2] } else { x(0) };
        let (flake, rotated) = (layer[px], layer[h * w - 1 - px]);
        data.extend((0..c).map(|k| {
            let lit = keep * x(k) + lift * x(k).max(gray * 1.5 + 0.5);
            unit_to_byte(lit as f64 + flake + rotated)
        }));
    }
    Image { data, ..*img }
}

/// The diamond-square height map of the reference's `plasma_fractal`, side `size` (a power of two),
/// normalised to [0,1]; every wibble is `wibble·U(−wibble, wibble)`, drawn in NumPy's order, and
/// wibble is divided by `decay` at each level.
pub fn plasma_fractal(size: usize, decay: f64, rng: &mut impl Rng) -> Vec<f64> {
    let mut m = vec![0.0f64; size * size];
    let mut step = size;
    let mut wibble = 100.0f64;
    while step >= 2 {
        let (g, half) = (size / step, step / 2);
        let at = |y: usize, x: usize| y * size + x;
        let corner = |m: &[f64], i: usize, j: usize| m[at((i % g) * step, (j % g) * step)];
        let noise = |sum: f64, rng: &mut dyn rand::RngCore| sum / 4.0 + wibble * rng.gen_range(-wibble..wibble);
        // Squares: the centre of each square of corners.
        for i in 0..g {
            for j in 0..g {
                let s = corner(&m, i, j) + corner(&m, i + 1, j) + corner(&m, i, j + 1) + corner(&m, i + 1, j + 1);
                m[at(i * step + half, j * step + half)] = noise(s, rng);
            }
        }
        // Diamonds: the centres of the top edges, then of the left edges.
        let centre = |m: &[f64], i: usize, j: usize| m[at((i % g) * step + half, (j % g) * step + half)];
        for i in 0..g {
            for j in 0..g {
                let s = centre(&m, i, j) + centre(&m, i + g - 1, j) + corner(&m, i, j) + corner(&m, i, j + 1);
                m[at(i * step, j * step + half)] = noise(s, rng);
            }
        }
        for i in 0..g {
            for j in 0..g {
                let s = centre(&m, i, j) + centre(&m, i, j + g - 1) + corner(&m, i, j) + corner(&m, i + 1, j);
                m[at(i * step + half, j * step)] = noise(s, rng);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = m.iter().cloned().fold(f64::INFINITY, f64::min);
    m.iter_mut().for_each(|v| *v -= min);
    let max = m.iter().cloned().fold(0.0, f64::max);
    if max > 0.0 {
        m.iter_mut().for_each(|v| *v /= max);
    }
    m
}

/// Fog: x + c·plasma (side the next power of two of the larger image side, cropped to the image),
/// then scaled by max(x)/(max(x) + c).
pub fn fog(img: &Image, c: f64, decay: f64, rng: &mut impl Rng) -> Image {
    let (h, w, ch) = (img.height, img.width, img.channels);
    let size = h.max(w).next_power_of_two();
    let plasma = plasma_fractal(size, decay, rng);
    let x = img.to_unit();
    let max = x.iter().cloned().fold(0.0, f64::max);
    let out: Vec<f64> = (0..h * w * ch)
        .map(|i| {
            let (y, xx) = (i / ch / w, i / ch % w);
            (x[i] + c * plasma[y * size + xx]) * max / (max + c)
        })
        .collect();
    img.from_unit(&out)
}
