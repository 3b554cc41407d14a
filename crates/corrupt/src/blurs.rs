//! Glass, motion and zoom blur (docs/methods.md §4.1.2, §4.1.5).
use crate::geometry::add_clipped_zoom;
use crate::image::{clip_to_byte, unit_table};
use crate::ops::per_plane;
use crate::scipy::{gaussian_nearest, numpy_sum, weighted_sum};
use crate::Image;
use rand::Rng;
use std::f64::consts::PI;

/// Glass blur: Gaussian blur (σ), truncate to u8, `iterations` passes of local moves, then blur
/// again (`make_cifar_c.py::glass_blur`, generalised from 32 to H×W), with offsets from U{−δ..δ−1}.
pub fn glass_blur(img: &Image, sigma: f64, delta: usize, iterations: usize, rng: &mut impl Rng) -> Image {
    let d = delta as isize;
    glass_blur_with(img, sigma, delta, iterations, || rng.gen_range(-d..d))
}

/// [`glass_blur`] with its offsets from `offset` (dx, then dy, per pixel). For rows and columns from
/// size−δ down to δ+1 the pixel takes the value of the one at (dy, dx) from it, which keeps its own:
/// the reference's `x[h, w], x[h', w'] = x[h', w'], x[h, w]` on an RGB array swaps two views, so the
/// second assignment copies back the value the first one wrote (gray images are RGB by then in
/// `imagecorruptions`). `make_cifar_c.py` and `make_imagenet_c.py` have the same line.
pub fn glass_blur_with(
    img: &Image,
    sigma: f64,
    delta: usize,
    iterations: usize,
    mut offset: impl FnMut() -> isize,
) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut x = per_plane(img, |p| gaussian_nearest(p, h, w, sigma));
    for _ in 0..iterations {
        for row in (delta + 1..=h.saturating_sub(delta)).rev() {
            for col in (delta + 1..=w.saturating_sub(delta)).rev() {
                let dx = offset();
                let dy = offset();
                let (r2, c2) = ((row as isize + dy) as usize, (col as isize + dx) as usize);
                if row >= h || col >= w || r2 >= h || c2 >= w {
                    continue;
                }
                x.data.copy_within((r2 * w + c2) * c..(r2 * w + c2 + 1) * c, (row * w + col) * c);
            }
        }
    }
    per_plane(&x, |p| gaussian_nearest(p, h, w, sigma))
}

/// The one-sided Gaussian weights of motion blur: width 2·radius+1, the N(0, σ) density at 0, 1, …,
/// divided by NumPy's sum of them (`imagecorruptions.getMotionBlurKernel`, the same expressions).
pub fn motion_kernel(radius: usize, sigma: f64) -> Vec<f64> {
    let density = |i: usize| (-((i * i) as f64) / (2.0 * (sigma * sigma))).exp() / ((2.0 * PI).sqrt() * sigma);
    let k: Vec<f64> = (0..2 * radius + 1).map(density).collect();
    let z = numpy_sum(&k);
    k.into_iter().map(|v| v / z).collect()
}

/// Motion blur of interleaved (h, w, c) values along `angle` degrees with the weights `kernel`:
/// Σᵢ kᵢ·shift(x, dxᵢ, dyᵢ) with (p_y, p_x) = n·(sin a, cos a), dyᵢ = −⌈i·p_y/|p| − ½⌉,
/// dxᵢ = −⌈i·p_x/|p| − ½⌉ (the reference's expressions) and edge pixels repeated into the vacated
/// border; stops where the shift leaves the image (`imagecorruptions._motion_blur`, the reference's
/// ImageMagick-free motion blur; `make_cifar_c.py` calls ImageMagick's `MotionBlurImage`, whose
/// kernel is close but not bit-identical). Each value's sum runs in tap order from zero, as the
/// reference's `blurred = blurred + kernel[i] * shifted`.
pub fn motion_blur_values(data: &[f64], (h, w, c): (usize, usize, usize), kernel: &[f64], angle: f64) -> Vec<f64> {
    let taps = motion_taps(kernel, angle, (h, w));
    crate::simd::dispatch!(motion_rows(data, (h, w, c), &taps))
}

/// [`motion_blur_values`]'s taps `(weight, dy, dx)`, up to the first whose shift leaves an H×W image.
fn motion_taps(kernel: &[f64], angle: f64, (h, w): (usize, usize)) -> Vec<(f64, isize, isize)> {
    let (sin, cos) = angle.to_radians().sin_cos();
    let width = kernel.len() as f64;
    let (py, px) = (width * sin, width * cos);
    let norm = py.hypot(px);
    let shift = |i: usize, p: f64| -((i as f64 * p) / norm - 0.5).ceil() as isize;
    kernel
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, shift(i, py), shift(i, px)))
        .take_while(|&(_, dy, dx)| dy.unsigned_abs() < h && dx.unsigned_abs() < w)
        .collect()
}

/// [`motion_blur_values`]'s loops on f64 values.
#[inline(always)]
fn motion_rows(data: &[f64], shape: (usize, usize, usize), taps: &[(f64, isize, isize)]) -> Vec<f64> {
    let mut out = vec![0.0; data.len()];
    motion_lines(data, |v| v, shape, taps, |y, line| out[y * line.len()..][..line.len()].copy_from_slice(line));
    out
}

/// Motion blur's sums, one output line at a time handed to `emit(y, line)`: each source row, read
/// through `value`, is padded with its edge pixel repeated as far as the widest horizontal shift, so
/// every tap `(weight, dy, dx)` reads one contiguous window of a (clamped) source row, and each output
/// line is their weighted sum in tap order.
#[inline(always)]
fn motion_lines<T: Copy>(
    data: &[T],
    value: impl Fn(T) -> f64,
    (h, w, c): (usize, usize, usize),
    taps: &[(f64, isize, isize)],
    mut emit: impl FnMut(usize, &[f64]),
) {
    let line = w * c;
    let pad = taps.iter().map(|t| t.2.unsigned_abs()).max().unwrap_or(0);
    let padded_line = (w + 2 * pad) * c;
    let mut padded = vec![0.0; h * padded_line];
    for (padded_row, row) in padded.chunks_exact_mut(padded_line).zip(data.chunks_exact(line)) {
        let (left, rest) = padded_row.split_at_mut(pad * c);
        let (middle, right) = rest.split_at_mut(line);
        middle.iter_mut().zip(row).for_each(|(m, &v)| *m = value(v));
        for (px, edge) in [(left, &row[..c]), (right, &row[line - c..])] {
            px.chunks_exact_mut(c).for_each(|px| px.iter_mut().zip(edge).for_each(|(p, &e)| *p = value(e)));
        }
    }
    let weights: Vec<f64> = taps.iter().map(|t| t.0).collect();
    let mut sums = vec![0.0; line];
    let mut rows: Vec<&[f64]> = Vec::with_capacity(taps.len());
    for y in 0..h {
        rows.clear();
        rows.extend(taps.iter().map(|&(_, dy, dx)| {
            let sy = (y as isize - dy).clamp(0, h as isize - 1) as usize;
            &padded[sy * padded_line + (pad as isize - dx) as usize * c..][..line]
        }));
        weighted_sum(&mut sums, &weights, &rows);
        emit(y, &sums);
    }
}

/// Motion blur at an angle drawn from U(−45°, 45°).
pub fn motion_blur(img: &Image, radius: usize, sigma: f64, rng: &mut impl Rng) -> Image {
    motion_blur_at(img, &motion_kernel(radius, sigma), rng.gen_range(-45.0..45.0))
}

/// Motion blur with weights `kernel` at `angle` degrees on the byte values, as the reference computes
/// it (not on [0,1]: on flat regions the sum lands within rounding of an integer, and the scale
/// decides the byte), clipped to [0, 255] and truncated.
pub fn motion_blur_at(img: &Image, kernel: &[f64], angle: f64) -> Image {
    let shape = (img.height, img.width, img.channels);
    let taps = motion_taps(kernel, angle, (img.height, img.width));
    Image { data: crate::simd::dispatch!(motion_bytes(&img.data, shape, &taps)), ..*img }
}

/// [`motion_blur_at`]'s loops: [`motion_lines`] on the bytes, each line clipped and truncated back.
#[inline(always)]
fn motion_bytes(data: &[u8], shape: (usize, usize, usize), taps: &[(f64, isize, isize)]) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    motion_lines(
        data,
        |v| v as f64,
        shape,
        taps,
        |y, line| {
            let bytes = out[y * line.len()..][..line.len()].iter_mut();
            bytes.zip(line).for_each(|(o, &v)| *o = clip_to_byte(v));
        },
    );
    out
}

/// NumPy's `arange(1, end, step)`: ⌈(end − 1)/step⌉ values 1 + i·δ, where NumPy's fill takes the
/// step as δ = (1 + step) − 1 (1.3000000000000003, not 1.3, for `arange(1, 1.31, 0.03)[10]`).
pub fn zoom_factors(end: f64, step: f64) -> Vec<f64> {
    let n = ((end - 1.0) / step).ceil() as usize;
    let delta = (1.0 + step) - 1.0;
    (0..n).map(|i| 1.0 + i as f64 * delta).collect()
}

/// Zoom blur: the mean of the image and its centre zooms by each factor in `arange(1, end, step)`,
/// in float32 as the reference computes it (`(x/255).astype(float32)`, each zoomed value rounded to
/// float32 and added to a float32 sum, the mean and ×255 in float32, then truncated).
pub fn zoom_blur(img: &Image, end: f64, step: f64) -> Image {
    let factors = zoom_factors(end, step);
    let unit = unit_table();
    // The float32 image, held widened to f64 (exactly) for the zoom's f64 arithmetic.
    let x: Vec<f64> = img.data.iter().map(|&v| unit[v as usize] as f32 as f64).collect();
    let mut sum = vec![0.0f32; x.len()];
    for &z in &factors {
        add_clipped_zoom(&mut sum, &x, (img.height, img.width, img.channels), z);
    }
    let count = (factors.len() + 1) as f32;
    let data = x.iter().zip(&sum).map(|(&v, &s)| (((v as f32 + s) / count).clamp(0.0, 1.0) * 255.0) as u8).collect();
    Image { data, ..*img }
}

// The registry entries of the blurs above, with their CIFAR and ImageNet parameters (docs/corruptions.md).

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 or AVX2 copy that `motion_blur_values` runs on this CPU gives the portable copy's bits.
    #[test]
    fn the_dispatched_motion_blur_equals_the_portable_loops_bit_for_bit() {
        let shape = (29, 41, 3);
        let data: Vec<f64> = (0..29 * 41 * 3).map(|i| ((i * 7919) % 1000) as f64 / 999.0).collect();
        let taps = [(0.4, 0, 0), (0.3, -1, 2), (0.2, 3, -2), (0.1, -5, 7)];
        let wide = crate::simd::dispatch!(motion_rows(&data, shape, &taps));
        let portable = motion_rows(&data, shape, &taps);
        assert!(wide.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
