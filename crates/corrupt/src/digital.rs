//! Elastic transform and JPEG compression (docs/methods.md §4.1.2, §4.1.5).
use crate::corruption::At;
use crate::geometry::{affine_from_points, map_coordinates_reflect, warp_affine_reflect101};
use crate::image::{clip_to_byte, unit_table_f32};
use crate::scipy::{gaussian_filter, Border};
use crate::wyrand::Wyrand;
use crate::{Image, Preset, Result};
use rand::Rng;

/// Elastic parameters in pixels: displacement scale α, smoothing σ (per axis), affine jitter, and the
/// range of the uniform noise the displacement field is smoothed from.
#[derive(Clone, Copy, Debug)]
pub struct Elastic {
    pub alpha: f64,
    pub sigma: (f64, f64),
    pub affine: Option<f64>,
    pub noise: f64,
}

/// Elastic transform: an optional random affine warp (three points at the centre ± a third of the
/// smaller side, each jittered by U(±affine); bilinear, BORDER_REFLECT_101), then a displacement
/// field dx, dy = gaussian(U(±noise), σ, reflect, truncate 3)·α sampled bilinearly with reflection.
pub fn elastic(img: &Image, p: Elastic, rng: &mut impl Rng) -> Image {
    let (h, w) = (img.height, img.width);
    let jitter = p.affine.map(|j| [(); 3].map(|_| [(); 2].map(|_| rng.gen_range(-j..j))));
    // NumPy's uniform(−a, a): −a + 2a·u, u from a wyrand stream seeded by the image's generator.
    let mut draws = Wyrand::new(rng.gen());
    let mut noise = || (0..h * w).map(|_| -p.noise + 2.0 * p.noise * draws.unit()).collect::<Vec<f64>>();
    let noise_x = noise();
    let noise_y = noise();
    elastic_from_draws(img, p, jitter, &noise_x, &noise_y)
}

/// [`elastic`] given its random draws: the affine jitter of the three points (when `p.affine` is
/// set) and the uniform noise that dx, then dy, is smoothed from. In float32 where the reference is
/// (`imagecorruptions`, `make_*_c.py`): the image (x/255), the warped image, dx and dy, the
/// interpolated values, the clip and ×255; SciPy's `map_coordinates` in f64 between. OpenCV's warp
/// interpolates with 5-bit fixed-point weights; this one with f64, rounded to float32.
pub fn elastic_from_draws(
    img: &Image,
    p: Elastic,
    jitter: Option<[[f64; 2]; 3]>,
    noise_x: &[f64],
    noise_y: &[f64],
) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let unit = unit_table_f32();
    let mut x: Vec<f64> = img.data.iter().map(|&v| unit[v as usize] as f64).collect();
    if let Some(jitter) = jitter {
        let (cy, cx) = ((h / 2) as f64, (w / 2) as f64);
        let s = (h.min(w) / 3) as f64;
        // The reference builds the points from (rows, cols) and hands them to OpenCV as (x, y); it
        // adds the jitter in float32.
        let from = [[cy + s, cx + s], [cy + s, cx - s], [cy - s, cx - s]];
        let mut to = from;
        for (point, moves) in to.iter_mut().zip(jitter) {
            point.iter_mut().zip(moves).for_each(|(v, m)| *v = (*v as f32 + m as f32) as f64);
        }
        let m = affine_from_points(from, to);
        x = warp_affine_reflect101(&x, (h, w, c), m).into_iter().map(|v| v as f32 as f64).collect();
    }
    let field = |noise: &[f64]| -> Vec<f64> {
        let smooth = gaussian_filter(noise, h, w, p.sigma, 3.0, Border::Reflect);
        smooth.into_iter().map(|v| (v * p.alpha) as f32 as f64).collect()
    };
    let (dx, dy) = (field(noise_x), field(noise_y));
    let moved = map_coordinates_reflect(&x, (h, w, c), &dy, &dx);
    // np.uint8 of the float32 clip ×255 (truncation; `clip_to_byte` is that cast, in operations that
    // vectorise).
    let data = moved.iter().map(|&v| clip_to_byte(((v as f32).clamp(0.0, 1.0) * 255.0) as f64)).collect();
    Image { data, ..*img }
}

/// JPEG at `quality` (1–100) as PIL's `save(..., "JPEG", quality=q)` and `Image.open` give it back
/// (`crate::libjpeg`: libjpeg-turbo's lossy stages with PIL's settings, byte-identical to Pillow
/// on the fixtures of tests/augmix_pillow.rs). Gray images stay gray (a grayscale JPEG).
pub fn jpeg(img: &Image, quality: u8) -> Result<Image> {
    let data = crate::libjpeg::round_trip(&img.data, (img.height, img.width, img.channels), quality);
    Image::new(data, img.height, img.width, img.channels)
}

// The registry entries of JPEG and the elastic transform (docs/corruptions.md).

/// Elastic parameters: CIFAR's and ImageNet's are fractions of 32 and of 244 px with an affine step; the size-adaptive ones are α = 250·[.05 .065 .085 .1 .12], σ = 0.01·side,
/// noise ±0.005·height and no affine step.
pub(crate) fn elastic_params(at: &At, (h, w): (f64, f64)) -> Elastic {
    let (p, s) = (at.preset, at.s);
    match p {
        Preset::Cifar | Preset::ImageNet => {
            let cifar = [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)];
            let imagenet =
                [(2.0, 0.7, 0.1), (2.0, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)];
            let size = if p == Preset::Cifar { 32.0 } else { 244.0 };
            let (a, sg, af) = at.pick(cifar, imagenet);
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
