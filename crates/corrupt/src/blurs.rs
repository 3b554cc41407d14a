//! Glass, motion and zoom blur (METHODS.md §4.1.2, §4.1.5).
use crate::filters::gaussian_nearest;
use crate::geometry::clipped_zoom;
use crate::ops::per_plane;
use crate::Image;
use rand::Rng;

/// Glass blur: Gaussian blur (σ), truncate to u8, `iterations` passes of local swaps — for rows and
/// columns from size−δ down to δ+1, swap the pixel with the one at offset (dy, dx) ∈ U{−δ..δ−1}²,
/// dx drawn first — then blur again (`make_cifar_c.py::glass_blur`, generalised from 32 to H×W).
pub fn glass_blur(img: &Image, sigma: f64, delta: usize, iterations: usize, rng: &mut impl Rng) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut x = per_plane(img, |p| gaussian_nearest(p, h, w, sigma));
    let d = delta as isize;
    for _ in 0..iterations {
        for row in (delta + 1..=h.saturating_sub(delta)).rev() {
            for col in (delta + 1..=w.saturating_sub(delta)).rev() {
                let dx = rng.gen_range(-d..d);
                let dy = rng.gen_range(-d..d);
                let (r2, c2) = ((row as isize + dy) as usize, (col as isize + dx) as usize);
                if row >= h || col >= w || r2 >= h || c2 >= w {
                    continue;
                }
                for ch in 0..c {
                    x.data.swap((row * w + col) * c + ch, (r2 * w + c2) * c + ch);
                }
            }
        }
    }
    per_plane(&x, |p| gaussian_nearest(p, h, w, sigma))
}

/// The one-sided Gaussian weights of motion blur: width 2·radius+1, N(0, σ) at 0, 1, …, normalised
/// (`imagecorruptions.getMotionBlurKernel`).
pub fn motion_kernel(radius: usize, sigma: f64) -> Vec<f64> {
    let k: Vec<f64> = (0..2 * radius + 1).map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let z: f64 = k.iter().sum();
    k.into_iter().map(|v| v / z).collect()
}

/// Motion blur of one plane along `angle` degrees: Σᵢ kᵢ·shift(x, dxᵢ, dyᵢ) with
/// dyᵢ = −⌈i·sin a − ½⌉, dxᵢ = −⌈i·cos a − ½⌉ and edge pixels repeated into the vacated border; stops
/// where the shift leaves the image (`imagecorruptions._motion_blur`, the reference's ImageMagick-free
/// motion blur; `make_cifar_c.py` calls ImageMagick's `MotionBlurImage`, whose kernel is close but
/// not bit-identical).
pub fn motion_blur_plane(plane: &[f64], (h, w): (usize, usize), radius: usize, sigma: f64, angle: f64) -> Vec<f64> {
    let kernel = motion_kernel(radius, sigma);
    let (sin, cos) = angle.to_radians().sin_cos();
    let mut out = vec![0.0; h * w];
    for (i, k) in kernel.iter().enumerate() {
        let dy = -((i as f64 * sin) - 0.5).ceil() as isize;
        let dx = -((i as f64 * cos) - 0.5).ceil() as isize;
        if dy.unsigned_abs() >= h || dx.unsigned_abs() >= w {
            break;
        }
        for y in 0..h {
            let sy = (y as isize - dy).clamp(0, h as isize - 1) as usize;
            for x in 0..w {
                let sx = (x as isize - dx).clamp(0, w as isize - 1) as usize;
                out[y * w + x] += k * plane[sy * w + sx];
            }
        }
    }
    out
}

/// Motion blur at an angle drawn from U(−45°, 45°).
pub fn motion_blur(img: &Image, radius: usize, sigma: f64, rng: &mut impl Rng) -> Image {
    let angle = rng.gen_range(-45.0..45.0);
    per_plane(img, |p| motion_blur_plane(p, (img.height, img.width), radius, sigma, angle))
}

/// NumPy's `arange(1, end, step)`: ⌈(end − 1)/step⌉ values 1 + i·step.
pub fn zoom_factors(end: f64, step: f64) -> Vec<f64> {
    let n = ((end - 1.0) / step).ceil() as usize;
    (0..n).map(|i| 1.0 + i as f64 * step).collect()
}

/// Zoom blur: the mean of the image and its centre zooms by each factor in `arange(1, end, step)`.
pub fn zoom_blur(img: &Image, end: f64, step: f64) -> Image {
    let factors = zoom_factors(end, step);
    let size = (img.height, img.width);
    per_plane(img, |p| {
        let mut acc = p.to_vec();
        for &z in &factors {
            acc.iter_mut().zip(clipped_zoom(p, size, z)).for_each(|(a, v)| *a += v);
        }
        acc.into_iter().map(|v| v / (factors.len() + 1) as f64).collect()
    })
}
