//! Elastic transform and JPEG compression (METHODS.md §4.1.2, §4.1.5).
use crate::filters::{gaussian_filter, Border};
use crate::geometry::{affine_from_points, displace_reflect, warp_affine_reflect101};
use crate::{Error, Image, Result};
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
/// The warped image stays in floats until the end, as in the reference. OpenCV's warp interpolates
/// with 5-bit fixed-point weights; this one with f64.
pub fn elastic(img: &Image, p: Elastic, rng: &mut impl Rng) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut x = img.to_unit();
    if let Some(jitter) = p.affine {
        let (cy, cx) = ((h / 2) as f64, (w / 2) as f64);
        let s = (h.min(w) / 3) as f64;
        // The reference builds the points from (rows, cols) and hands them to OpenCV as (x, y).
        let from = [[cy + s, cx + s], [cy + s, cx - s], [cy - s, cx - s]];
        let mut to = from;
        for point in to.iter_mut() {
            for v in point.iter_mut() {
                *v += rng.gen_range(-jitter..jitter);
            }
        }
        let m = affine_from_points(from, to);
        x = warp_affine_reflect101(&x, (h, w, c), m);
    }
    let mut field = || {
        let noise: Vec<f64> = (0..h * w).map(|_| rng.gen_range(-p.noise..p.noise)).collect();
        gaussian_filter(&noise, h, w, p.sigma, 3.0, Border::Reflect)
            .into_iter()
            .map(|v| v * p.alpha)
            .collect::<Vec<_>>()
    };
    let dx = field();
    let dy = field();
    img.from_unit(&displace_reflect(&x, (h, w, c), &dy, &dx))
}

/// JPEG at `quality` (1–100), encoded by `jpeg-encoder` and decoded by `image` (zune-jpeg). Like
/// the reference's PIL (libjpeg), the encoder scales the standard (Annex K) quantisation tables by
/// libjpeg's quality formula and subsamples chroma 4:2:0, so the artefacts are of the same kind; the
/// DCT, colour conversion and chroma resampling round differently, so the bytes are not identical:
/// the error against the clean image is 0.95–1.5 times PIL's (tests/augmix_pillow.rs). Gray images
/// stay gray.
pub fn jpeg(img: &Image, quality: u8) -> Result<Image> {
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    let fail = |what: String| Error::Shape(format!("JPEG round trip of a {}x{} image: {what}", img.height, img.width));
    let side = |n: usize| u16::try_from(n).map_err(|_| fail(format!("sides above {} px do not fit JPEG", u16::MAX)));
    let colour = if img.channels == 3 { ColorType::Rgb } else { ColorType::Luma };
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder.encode(&img.data, side(img.width)?, side(img.height)?, colour).map_err(|e| fail(e.to_string()))?;
    let decoded =
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).map_err(|e| fail(e.to_string()))?;
    let data = if img.channels == 3 { decoded.to_rgb8().into_raw() } else { decoded.to_luma8().into_raw() };
    Image::new(data, img.height, img.width, img.channels)
}
