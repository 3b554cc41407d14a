//! The operations of the noise corruptions, defocus and Gaussian blur, brightness, contrast, saturate
//! and pixelate, one function each, following `make_cifar_c.py` (docs/methods.md §4.1.2): the image is
//! scaled to [0,1], corrupted, clipped to [0,1], scaled by 255 and truncated to u8. Their entries and
//! parameter tables are in `corruptions/`.
use crate::byte_noise::{self, Noise};
use crate::color::{hsv_to_rgb, rgb_to_hsv};
use crate::image::{unit_table, unit_to_byte};
use crate::opencv::{filter2d_reflect101, gaussian_kernel_1d, symmetric_blur_f32};
use crate::pillow::{box_resize, nearest_resize};
use crate::scipy::gaussian_nearest;
use crate::{fft_filter, Image};
use rand::Rng;

/// Applies `f` to each channel plane (H×W) of the image in [0,1].
pub(crate) fn per_plane(img: &Image, f: impl Fn(&[f64]) -> Vec<f64>) -> Image {
    let planes: Vec<Vec<f64>> = img.unit_planes().iter().map(|p| f(p)).collect();
    img.from_unit_planes(&planes)
}

/// x + N(0, c²) per value, drawn per byte from its exact output distribution ([`byte_noise`]).
pub fn gaussian_noise(img: &Image, c: f64, rng: &mut impl Rng) -> Image {
    byte_noise::apply(img, Noise::Gaussian(c), rng)
}

/// Poisson(x·c)/c per value (photon noise), drawn per byte from its exact output distribution
/// ([`byte_noise`]): the same distribution as NumPy's `poisson`, from a different random stream.
pub fn shot_noise(img: &Image, c: f64, rng: &mut impl Rng) -> Image {
    byte_noise::apply(img, Noise::Shot(c), rng)
}

/// Salt and pepper on a fraction `amount` of values, salt and pepper equally likely (scikit-image
/// `s&p`), drawn per byte from its exact output distribution ([`byte_noise`]).
pub fn impulse_noise(img: &Image, amount: f64, rng: &mut impl Rng) -> Image {
    byte_noise::apply(img, Noise::Impulse(amount), rng)
}

/// x + x·N(0, c²) per value, drawn per byte from its exact output distribution ([`byte_noise`]).
pub fn speckle_noise(img: &Image, c: f64, rng: &mut impl Rng) -> Image {
    byte_noise::apply(img, Noise::Speckle(c), rng)
}

/// Gaussian filter of std `sigma` per channel (scikit-image `gaussian`: SciPy, mode "nearest").
pub fn gaussian_blur(img: &Image, sigma: f64) -> Image {
    per_plane(img, |p| gaussian_nearest(p, img.height, img.width, sigma))
}

/// The reference's `disk(radius, alias_blur)`: a disk on the grid −8..8 normalised in float32, smoothed
/// by a 3×3 float32 Gaussian of std `alias_blur` (OpenCV `GaussianBlur`, BORDER_REFLECT_101); radii
/// above 8 use the grid −r..r and a 5×5 smoothing kernel, as the reference does. The float32 values
/// matter: on flat regions the reference's sums land a float32 rounding below an integer. OpenCV's
/// vectorised smoothing (fused multiply-adds) can differ from this plain one in the last float32 bit
/// of a few weights of the larger disks (alias σ 0.5), which moves a byte only in rare ties.
pub fn disk_kernel(radius: f64, alias_blur: f64) -> (Vec<f64>, usize) {
    let (half, ks) = if radius <= 8.0 { (8isize, 3) } else { (radius as isize, 5) };
    let n = (2 * half + 1) as usize;
    let inside = |i: usize| {
        let (y, x) = ((i / n) as isize - half, (i % n) as isize - half);
        ((x * x + y * y) as f64) <= radius * radius
    };
    let count = (0..n * n).filter(|&i| inside(i)).count() as f32;
    let disk: Vec<f32> = (0..n * n).map(|i| if inside(i) { 1.0 / count } else { 0.0 }).collect();
    let blurred = symmetric_blur_f32(&disk, n, &gaussian_kernel_1d(ks, alias_blur));
    (blurred.iter().map(|&v| v as f64).collect(), n)
}

/// Convolution of each channel with the anti-aliased disk (OpenCV `filter2D`, BORDER_REFLECT_101);
/// through the FFT where that is cheaper (large disks on large images), as OpenCV does.
pub fn defocus_blur(img: &Image, radius: f64, alias_blur: f64) -> Image {
    let (kernel, n) = disk_kernel(radius, alias_blur);
    let (h, w) = (img.height, img.width);
    let taps = kernel.iter().filter(|&&v| v != 0.0).count();
    if fft_filter::worth_it(taps, (h, w), n) {
        img.from_unit(&fft_filter::filter2d_reflect101_fft(&img.to_unit(), (h, w, img.channels), &kernel, n))
    } else {
        per_plane(img, |p| filter2d_reflect101(p, h, w, &kernel, n))
    }
}

/// Maps every pixel through HSV with `f(h, s, v)`. Gray images have no hue or saturation: their
/// value is the gray level and `f` sees s = 0.
fn through_hsv(img: &Image, f: impl Fn([f64; 3]) -> [f64; 3]) -> Image {
    if img.channels == 1 {
        return img.map_unit(|v| f([0.0, 0.0, v])[2]);
    }
    let unit = unit_table();
    let data = img
        .data
        .chunks_exact(3)
        .flat_map(|p| {
            let rgb = [unit[p[0] as usize], unit[p[1] as usize], unit[p[2] as usize]];
            hsv_to_rgb(f(rgb_to_hsv(rgb))).map(unit_to_byte)
        })
        .collect();
    Image { data, ..*img }
}

/// HSV value + c, clipped to [0,1].
pub fn brightness(img: &Image, c: f64) -> Image {
    through_hsv(img, |[h, s, v]| [h, s, (v + c).clamp(0.0, 1.0)])
}

/// HSV saturation·a + b, clipped to [0,1]. Gray images stay as they are (they have no saturation).
pub fn saturate(img: &Image, a: f64, b: f64) -> Image {
    if img.channels == 1 {
        return img.clone();
    }
    through_hsv(img, |[h, s, v]| [h, (s * a + b).clamp(0.0, 1.0), v])
}

/// (x − channel mean)·c + channel mean, the mean taken over the whole image per channel (from the
/// exact integer sum of the bytes: as close to NumPy's pairwise-summed mean as f64 allows).
pub fn contrast(img: &Image, c: f64) -> Image {
    let (channels, unit) = (img.channels, unit_table());
    // Sixteen pixels per step into lane sums (a loop that vectorises), folded per channel at the end.
    let mut lanes = [0u64; 48];
    let mut blocks = img.data.chunks_exact(16 * channels);
    for block in &mut blocks {
        lanes.iter_mut().zip(block).for_each(|(s, &v)| *s += v as u64);
    }
    let mut sums = [0u64; 3];
    for (i, &v) in lanes.iter().enumerate().take(16 * channels) {
        sums[i % channels] += v;
    }
    for (i, &v) in blocks.remainder().iter().enumerate() {
        sums[i % channels] += v as u64;
    }
    let means: Vec<f64> =
        sums[..channels].iter().map(|&s| s as f64 / 255.0 / (img.height * img.width) as f64).collect();
    // Each output byte depends only on its input byte and channel: one 256-entry table per channel.
    let tables: Vec<[u8; 256]> =
        means.iter().map(|&m| std::array::from_fn(|v| unit_to_byte((unit[v] - m) * c + m))).collect();
    let mut data = vec![0u8; img.data.len()];
    for (out, pixel) in data.chunks_exact_mut(channels).zip(img.data.chunks_exact(channels)) {
        for ((o, &v), table) in out.iter_mut().zip(pixel).zip(&tables) {
            *o = table[v as usize];
        }
    }
    Image { data, ..*img }
}

/// PIL BOX resize to ⌊size·c⌋ and back with BOX (`make_cifar_c.py`, `make_imagenet_c.py`) or NEAREST
/// (`imagecorruptions`); the output is PIL's u8, no further clipping, byte-identical to Pillow's.
pub fn pixelate(img: &Image, c: f64, nearest_back: bool) -> Image {
    let (h, w, ch) = (img.height, img.width, img.channels);
    let (sh, sw) = ((((h as f64) * c) as usize).max(1), (((w as f64) * c) as usize).max(1));
    let small = box_resize(&img.data, (h, w, ch), (sh, sw));
    let data = if nearest_back {
        nearest_resize(&small, (sh, sw, ch), (h, w))
    } else {
        box_resize(&small, (sh, sw, ch), (h, w))
    };
    Image { data, height: h, width: w, channels: ch }
}

// The registry entries of the corruptions above, each with its CIFAR and ImageNet parameters
// (docs/corruptions.md); the size-adaptive preset uses the ImageNet ones.
