//! Snow and fog (docs/methods.md §4.1.2, §4.1.5); frost is in `frost.rs`.
use crate::blurs::{motion_blur_values, motion_kernel};
use crate::geometry::{clipped_zoom, zoom_centre_crop};
use crate::image::{round_to_byte, unit_table, unit_table_f32, unit_to_byte};
use crate::wyrand::Wyrand;
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
    let mut draws = Wyrand::new(rng.gen());
    let layer: Vec<f64> = (0..img.height * img.width).map(|_| normal.sample(&mut draws)).collect();
    let angle = rng.gen_range(-135.0..-45.0);
    snow_from_draws(img, p, &layer, angle)
}

/// [`snow`] given its draws: the H×W N(μ, σ) layer and the angle in degrees. The reference's dtypes:
/// the image is float32 (x/255) and lightened in float32 (the gray value in OpenCV's weights and
/// left-to-right order: OpenCV's vectorised `cvtColor` may differ in the last float32 bit), the layer
/// float64; their sum is clipped, scaled by 255 and truncated.
pub fn snow_from_draws(img: &Image, p: Snow, layer: &[f64], angle: f64) -> Image {
    let (h, w) = (img.height, img.width);
    let (zoomed, zh, zw) = match p.crop {
        SnowCrop::Centre => (clipped_zoom(layer, (h, w, 1), p.zoom), h, w),
        SnowCrop::TopLeftAfterBlur => zoom_centre_crop(layer, (h, w, 1), p.zoom),
    };
    let zoomed: Vec<f64> = zoomed.into_iter().map(|v| if v < p.threshold { 0.0 } else { v.min(1.0) }).collect();
    let blurred = motion_blur_values(&zoomed, (zh, zw, 1), &motion_kernel(p.radius, p.sigma), angle);
    let levels: Vec<u8> =
        blurred.chunks_exact(zw).take(h).flat_map(|row| &row[..w]).map(|&v| round_to_byte(v * 255.0)).collect();
    let data = snow_blend(img, &levels, p.blend);
    Image { data, ..*img }
}

/// [`snow_from_draws`]'s per-value work for 1 or 3 channels ([`snow_blend_with`]).
fn snow_blend(img: &Image, levels: &[u8], blend: f64) -> Vec<u8> {
    if img.channels == 3 {
        crate::simd::dispatch!(snow_blend_rgb(img, levels, blend))
    } else {
        crate::simd::dispatch!(snow_blend_gray(img, levels, blend))
    }
}

#[inline(always)]
fn snow_blend_rgb(img: &Image, levels: &[u8], blend: f64) -> Vec<u8> {
    snow_blend_with::<3>(img, levels, blend)
}

#[inline(always)]
fn snow_blend_gray(img: &Image, levels: &[u8], blend: f64) -> Vec<u8> {
    snow_blend_with::<1>(img, levels, blend)
}

/// Row by row, for `C` channels: the row's lightened values in float32 (per pixel, for the gray
/// value), then lit + flake + rotated flake (the layer's levels/255, the flake of the 180°-rotated
/// position) in float64, clipped, scaled and truncated in a loop that vectorises.
#[inline(always)]
fn snow_blend_with<const C: usize>(img: &Image, levels: &[u8], blend: f64) -> Vec<u8> {
    let w = img.width;
    let unit = unit_table_f32();
    let table = unit_table();
    let (keep, lift) = (blend as f32, (1.0 - blend) as f32);
    let (mut lit, mut flakes, mut rotated) = (vec![0.0f32; w * C], vec![0.0; w * C], vec![0.0; w * C]);
    let mut data = vec![0u8; img.data.len()];
    for (y, (out, row)) in data.chunks_exact_mut(w * C).zip(img.data.chunks_exact(w * C)).enumerate() {
        for (l, pixel) in lit.chunks_exact_mut(C).zip(row.chunks_exact(C)) {
            let x: [f32; C] = std::array::from_fn(|k| unit[pixel[k] as usize]);
            let gray = if C == 3 { x[0] * CV_GRAY[0] + x[1] * CV_GRAY[1] + x[2] * CV_GRAY[2] } else { x[0] };
            for (l, &x) in l.iter_mut().zip(&x) {
                *l = keep * x + lift * x.max(gray * 1.5 + 0.5);
            }
        }
        // The 180° rotation's row y is row h − 1 − y read backwards.
        let (flake_row, rotated_row) = (&levels[y * w..][..w], &levels[levels.len() - (y + 1) * w..][..w]);
        for ((f, r), (&a, &b)) in flakes
            .chunks_exact_mut(C)
            .zip(rotated.chunks_exact_mut(C))
            .zip(flake_row.iter().zip(rotated_row.iter().rev()))
        {
            f.copy_from_slice(&[table[a as usize]; C]);
            r.copy_from_slice(&[table[b as usize]; C]);
        }
        for (((o, &l), &f), &r) in out.iter_mut().zip(&lit).zip(&flakes).zip(&rotated) {
            *o = unit_to_byte(l as f64 + f + r);
        }
    }
    data
}

/// The diamond-square height map of the reference's `plasma_fractal`, side `size` (a power of two),
/// normalised to [0,1], with its wibbles drawn from `rng` ([`plasma_fractal_with`]).
pub fn plasma_fractal(size: usize, decay: f64, rng: &mut impl Rng) -> Vec<f64> {
    plasma_fractal_with(size, decay, || rng.gen::<f64>())
}

/// The reference's `plasma_fractal` given its uniform draws ([`plasma_heights`]), shifted to 0 and
/// divided by its maximum.
pub fn plasma_fractal_with(size: usize, decay: f64, unit: impl FnMut() -> f64) -> Vec<f64> {
    let heights = plasma_heights(size, decay, unit);
    let (min, range) = min_and_range(&heights);
    heights.iter().map(|&v| normalised(v, min, range)).collect()
}

/// The diamond-square heights of the reference's `plasma_fractal` before its normalisation: `unit()`
/// in [0,1) is NumPy's `random_sample`, each wibble is wibble·(−wibble + 2·wibble·u)
/// (`uniform(−wibble, wibble)`), drawn in NumPy's order (squares, top diamonds, left diamonds, row by
/// row); each new value is sum/4 + wibble, its neighbours summed pairwise as the reference's rolled
/// arrays are, and wibble is divided by `decay` at each level.
fn plasma_heights(size: usize, decay: f64, mut unit: impl FnMut() -> f64) -> Vec<f64> {
    let mut m = vec![0.0f64; size * size];
    let (mut step, mut wibble) = (size, 100.0f64);
    while step >= 2 {
        let (g, half) = (size / step, step / 2);
        let mut noise = |sum: f64| sum / 4.0 + wibble * (-wibble + 2.0 * wibble * unit());
        // Grid index k's successor and predecessor, wrapping as np.roll does.
        let (next, prev) =
            (|k: usize| if k + 1 == g { 0 } else { k + 1 }, |k: usize| if k == 0 { g - 1 } else { k - 1 });
        // Corners at (i·step, j·step), centres at (i·step + half, j·step + half).
        let corner = |m: &[f64], i: usize, j: usize| m[i * step * size + j * step];
        let centre = |m: &[f64], i: usize, j: usize| m[(i * step + half) * size + j * step + half];
        for i in 0..g {
            for j in 0..g {
                let s = (corner(&m, i, j) + corner(&m, next(i), j))
                    + (corner(&m, i, next(j)) + corner(&m, next(i), next(j)));
                m[(i * step + half) * size + j * step + half] = noise(s);
            }
        }
        for i in 0..g {
            for j in 0..g {
                let s = (centre(&m, i, j) + centre(&m, prev(i), j)) + (corner(&m, i, j) + corner(&m, i, next(j)));
                m[i * step * size + j * step + half] = noise(s);
            }
        }
        for i in 0..g {
            for j in 0..g {
                let s = (centre(&m, i, j) + centre(&m, i, prev(j))) + (corner(&m, i, j) + corner(&m, next(i), j));
                m[(i * step + half) * size + j * step] = noise(s);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    m
}

/// The heights' minimum and the maximum of the shifted map, max(v − min), found in one pass: the
/// rounding of a subtraction is monotonic, so it is fl(max − min). Eight running extremes at a time
/// (a loop that vectorises; the heights are finite).
fn min_and_range(heights: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = ([f64::INFINITY; 8], [f64::NEG_INFINITY; 8]);
    let chunks = heights.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for k in 0..8 {
            lo[k] = if chunk[k] < lo[k] { chunk[k] } else { lo[k] };
            hi[k] = if chunk[k] > hi[k] { chunk[k] } else { hi[k] };
        }
    }
    let min = lo.iter().chain(tail).fold(f64::INFINITY, |a, &b| a.min(b));
    let max = hi.iter().chain(tail).fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    (min, max - min)
}

/// One normalised height, (v − min)/range as the reference's `maparray -= min; maparray / max`
/// (a flat map stays 0).
#[inline(always)]
fn normalised(v: f64, min: f64, range: f64) -> f64 {
    if range > 0.0 {
        (v - min) / range
    } else {
        v - min
    }
}

/// Fog: x + c·plasma (side the next power of two of the larger image side, cropped to the image),
/// then scaled by max(x)/(max(x) + c).
pub fn fog(img: &Image, c: f64, decay: f64, rng: &mut impl Rng) -> Image {
    let mut draws = Wyrand::new(rng.gen());
    fog_with(img, c, decay, || draws.unit())
}

/// [`fog`] given the plasma's uniform draws ([`plasma_heights`]): ((x + c·p)·max)/(max + c) in
/// float64, as the reference computes it, clipped, scaled by 255 and truncated; only the crop of the
/// plasma that the image covers is normalised.
pub fn fog_with(img: &Image, c: f64, decay: f64, unit: impl FnMut() -> f64) -> Image {
    let size = img.height.max(img.width).next_power_of_two();
    let heights = plasma_heights(size, decay, unit);
    let max = img.data.iter().copied().max().unwrap_or(0) as f64 / 255.0;
    let data = crate::simd::dispatch!(fog_rows(img, &heights, size, min_and_range(&heights), (c, max)));
    Image { data, ..*img }
}

/// [`fog_with`]'s per-value loop, row by row: the row's c·p spread over its channels, then every
/// value in one loop that vectorises.
#[inline(always)]
fn fog_rows(img: &Image, heights: &[f64], size: usize, (min, range): (f64, f64), (c, max): (f64, f64)) -> Vec<u8> {
    let (line, ch) = (img.width * img.channels, img.channels);
    let denominator = max + c;
    let (mut haze, mut added) = (vec![0.0; img.width], vec![0.0; line]);
    let mut data = vec![0u8; img.data.len()];
    for ((out, row), heights) in
        data.chunks_exact_mut(line).zip(img.data.chunks_exact(line)).zip(heights.chunks_exact(size))
    {
        // c·p for the row's pixels (the flat-map test hoisted out of the loop, so it vectorises).
        if range > 0.0 {
            haze.iter_mut().zip(heights).for_each(|(p, &h)| *p = c * ((h - min) / range));
        } else {
            haze.iter_mut().zip(heights).for_each(|(p, &h)| *p = c * (h - min));
        }
        match ch {
            3 => added.chunks_exact_mut(3).zip(&haze).for_each(|(a, &p)| a.copy_from_slice(&[p; 3])),
            _ => added.chunks_exact_mut(ch).zip(&haze).for_each(|(a, &p)| a.fill(p)),
        }
        for ((o, &v), &a) in out.iter_mut().zip(row).zip(&added) {
            *o = unit_to_byte((v as f64 / 255.0 + a) * max / denominator);
        }
    }
    data
}

// The registry entries of snow and fog, with their CIFAR and ImageNet parameters (docs/corruptions.md).

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX copies of fog's and snow's per-value loops give the portable loops' bytes.
    #[test]
    fn the_dispatched_fog_and_snow_loops_equal_the_portable_ones() {
        let img = crate::sample_picture(40, 3);
        let heights: Vec<f64> = (0..64 * 64).map(|i| ((i * 7919) % 1009) as f64 / 100.0 - 5.0).collect();
        let range = min_and_range(&heights);
        let wide = crate::simd::dispatch!(fog_rows(&img, &heights, 64, range, (1.7, 0.9)));
        assert_eq!(wide, fog_rows(&img, &heights, 64, range, (1.7, 0.9)));
        let levels: Vec<u8> = (0..40 * 40).map(|i| (i * 37 % 256) as u8).collect();
        let wide = crate::simd::dispatch!(snow_blend_rgb(&img, &levels, 0.65));
        assert_eq!(wide, snow_blend_rgb(&img, &levels, 0.65));
    }
}
