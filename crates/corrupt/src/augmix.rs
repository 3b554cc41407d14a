//! AugMix (Hendrycks et al. 2020; docs/methods.md §4.2): the Pillow operations of `augmentations.py` on u8
//! HWC images, and `augment_and_mix`. Each operation follows Pillow's own code (lookup tables, affine
//! sampling at pixel centres with truncating bilinear interpolation, `ImageEnhance` blends); all 13 were
//! byte-identical to Pillow 13.0 on a 32×32 RGB picture (tests/augmix_pillow.rs; fixtures written by
//! scripts/pillow-augmix-fixtures.py).
use crate::Image;
use rand::Rng;
use rand_distr::{Beta, Dirichlet, Distribution};

/// The nine default operations (`augmentations.augmentations`).
pub const DEFAULT_OPS: [&str; 9] =
    ["autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x", "shear_y", "translate_x", "translate_y"];

/// The four added by `--all-ops` (they overlap ImageNet-C corruptions, hence off by default).
pub const EXTRA_OPS: [&str; 4] = ["color", "contrast", "brightness", "sharpness"];

/// AugMix's mixing settings.
#[derive(Clone, Debug, PartialEq)]
pub struct AugMixParams {
    /// Upper end of the level range U[0.1, severity] (3 on CIFAR, 1 on ImageNet).
    pub severity: f64,
    /// Chains mixed (k).
    pub width: usize,
    /// Operations per chain; 0 draws 1–3 per chain (`--mixture-depth -1`).
    pub depth: usize,
    /// Dirichlet and Beta concentration α.
    pub alpha: f64,
    /// Also use color, contrast, brightness and sharpness.
    pub all_ops: bool,
}

impl Default for AugMixParams {
    fn default() -> Self {
        AugMixParams { severity: 3.0, width: 3, depth: 0, alpha: 1.0, all_ops: false }
    }
}

/// `int_parameter(level, maxval)`: ⌊level·maxval/10⌋.
fn int_param(level: f64, max: f64) -> i64 {
    (level * max / 10.0) as i64
}

/// `float_parameter(level, maxval)`: level·maxval/10.
fn float_param(level: f64, max: f64) -> f64 {
    level * max / 10.0
}

/// Applies a 256-entry table to every value.
fn lut(img: &Image, table: impl Fn(usize, u8) -> u8) -> Image {
    let c = img.channels;
    let data = img.data.iter().enumerate().map(|(i, &v)| table(i % c, v)).collect();
    Image { data, ..img.clone() }
}

fn histograms(img: &Image) -> Vec<[u64; 256]> {
    let mut h = vec![[0u64; 256]; img.channels];
    for (i, &v) in img.data.iter().enumerate() {
        h[i % img.channels][v as usize] += 1;
    }
    h
}

/// `ImageOps.autocontrast` (cutoff 0): each channel's range stretched to 0–255, truncating.
pub fn autocontrast(img: &Image) -> Image {
    let tables: Vec<Vec<u8>> = histograms(img)
        .iter()
        .map(|h| {
            let lo = h.iter().position(|&n| n > 0).unwrap_or(0);
            let hi = h.iter().rposition(|&n| n > 0).unwrap_or(0);
            if hi <= lo {
                return (0..=255).collect();
            }
            let scale = 255.0 / (hi - lo) as f64;
            let offset = -(lo as f64) * scale;
            (0..256).map(|v| ((v as f64 * scale + offset) as i64).clamp(0, 255) as u8).collect()
        })
        .collect();
    lut(img, |c, v| tables[c][v as usize])
}

/// `ImageOps.equalize`: each channel's histogram equalised with Pillow's integer steps.
pub fn equalize(img: &Image) -> Image {
    let tables: Vec<Vec<u8>> = histograms(img)
        .iter()
        .map(|h| {
            let used: Vec<u64> = h.iter().copied().filter(|&n| n > 0).collect();
            let step = if used.len() <= 1 { 0 } else { (used.iter().sum::<u64>() - used[used.len() - 1]) / 256 };
            if step == 0 {
                return (0..=255).collect();
            }
            let mut n = step / 2;
            (0..256)
                .map(|i| {
                    let v = (n / step).min(255) as u8;
                    n += h[i];
                    v
                })
                .collect()
        })
        .collect();
    lut(img, |c, v| tables[c][v as usize])
}

/// `ImageOps.posterize`: keep the top `bits` bits.
pub fn posterize(img: &Image, bits: u32) -> Image {
    let mask = !((1u16 << (8 - bits.min(8))) - 1) as u8;
    lut(img, |_, v| v & mask)
}

/// `ImageOps.solarize`: values at or above `threshold` inverted.
pub fn solarize(img: &Image, threshold: i64) -> Image {
    lut(img, |_, v| if (v as i64) < threshold { v } else { 255 - v })
}

/// Pillow's `Image.transform(AFFINE, (a, b, c, d, e, f), BILINEAR)`: output pixel (x, y) samples the
/// source at (a·x′ + b·y′ + c, d·x′ + e·y′ + f) with x′ = x + ½, y′ = y + ½; outside the source, 0.
pub fn affine(img: &Image, [a, b, c, d, e, f]: [f64; 6]) -> Image {
    let (h, w, ch) = (img.height, img.width, img.channels);
    let mut out = vec![0u8; img.data.len()];
    for y in 0..h {
        for x in 0..w {
            let (xs, ys) = (x as f64 + 0.5, y as f64 + 0.5);
            let xin = a * xs + b * ys + c;
            let yin = d * xs + e * ys + f;
            if xin < 0.0 || xin >= w as f64 || yin < 0.0 || yin >= h as f64 {
                continue;
            }
            let (xf, yf) = (xin - 0.5, yin - 0.5);
            let (x0, y0) = (xf.floor(), yf.floor());
            let (dx, dy) = (xf - x0, yf - y0);
            let clip_x = |v: f64| v.clamp(0.0, (w - 1) as f64) as usize;
            let clip_y = |v: f64| v.clamp(0.0, (h - 1) as f64) as usize;
            let (xa, xb) = (clip_x(x0), clip_x(x0 + 1.0));
            let (ya, yb) = (clip_y(y0), clip_y(y0 + 1.0));
            for k in 0..ch {
                let p = |yy: usize, xx: usize| img.data[(yy * w + xx) * ch + k] as f64;
                let top = p(ya, xa) + (p(ya, xb) - p(ya, xa)) * dx;
                let bottom = p(yb, xa) + (p(yb, xb) - p(yb, xa)) * dx;
                out[(y * w + x) * ch + k] = (top + (bottom - top) * dy).clamp(0.0, 255.0) as u8;
            }
        }
    }
    Image { data: out, ..img.clone() }
}

/// `Image.rotate(degrees, BILINEAR)`: counter-clockwise about the centre, same size, black corners.
pub fn rotate(img: &Image, degrees: f64) -> Image {
    let t = -degrees.to_radians();
    let (cos, sin) = (t.cos(), t.sin());
    let (cx, cy) = (img.width as f64 / 2.0, img.height as f64 / 2.0);
    let c = cos * -cx + sin * -cy + cx;
    let f = -sin * -cx + cos * -cy + cy;
    affine(img, [cos, sin, c, -sin, cos, f])
}

/// ITU-R 601-2 luma as Pillow's `convert("L")` computes it (fixed point, rounded).
fn luma(img: &Image) -> Vec<u8> {
    img.data
        .chunks(img.channels)
        .map(|p| {
            if p.len() == 3 {
                ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8
            } else {
                p[0]
            }
        })
        .collect()
}

/// `Image.blend(degenerate, img, factor)` as `ImageEnhance` uses it: degenerate + factor·(img − degenerate),
/// truncated and clipped to 0–255.
fn blend(img: &Image, degenerate: &[u8], factor: f64) -> Image {
    let data = img
        .data
        .iter()
        .zip(degenerate)
        .map(|(&v, &d)| (d as f64 + factor * (v as f64 - d as f64)).trunc().clamp(0.0, 255.0) as u8)
        .collect();
    Image { data, ..img.clone() }
}

/// `ImageEnhance.Color`: blend with the grey image.
pub fn color(img: &Image, factor: f64) -> Image {
    let grey: Vec<u8> = luma(img).iter().flat_map(|&l| std::iter::repeat_n(l, img.channels)).collect();
    blend(img, &grey, factor)
}

/// `ImageEnhance.Contrast`: blend with a flat image of the rounded mean grey level.
pub fn contrast(img: &Image, factor: f64) -> Image {
    let l = luma(img);
    let mean = (l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64 + 0.5) as u8;
    blend(img, &vec![mean; img.data.len()], factor)
}

/// `ImageEnhance.Brightness`: blend with black.
pub fn brightness(img: &Image, factor: f64) -> Image {
    blend(img, &vec![0; img.data.len()], factor)
}

/// `ImageEnhance.Sharpness`: blend with Pillow's SMOOTH filter ([1 1 1; 1 5 1; 1 1 1]/13, rounded),
/// whose border pixels are the original ones.
pub fn sharpness(img: &Image, factor: f64) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let mut smooth = img.data.clone();
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            for k in 0..c {
                let mut s = 0u32;
                for (dy, dx) in (0..3).flat_map(|i| (0..3).map(move |j| (i, j))) {
                    let weight = if dy == 1 && dx == 1 { 5 } else { 1 };
                    s += weight * img.data[((y + dy - 1) * w + x + dx - 1) * c + k] as u32;
                }
                smooth[(y * w + x) * c + k] = ((s as f64 / 13.0) + 0.5) as u8;
            }
        }
    }
    blend(img, &smooth, factor)
}

/// One operation at `level` ∈ [0.1, severity] with its random sign, as `augmentations.py` maps it.
pub fn apply_op(name: &str, img: &Image, level: f64, rng: &mut impl Rng) -> Image {
    let mut signed = |v: f64| if rng.gen::<f64>() > 0.5 { -v } else { v };
    match name {
        "autocontrast" => autocontrast(img),
        "equalize" => equalize(img),
        "posterize" => posterize(img, (4 - int_param(level, 4.0)) as u32),
        "rotate" => rotate(img, signed(int_param(level, 30.0) as f64)),
        "solarize" => solarize(img, 256 - int_param(level, 256.0)),
        "shear_x" => affine(img, [1.0, signed(float_param(level, 0.3)), 0.0, 0.0, 1.0, 0.0]),
        "shear_y" => affine(img, [1.0, 0.0, 0.0, signed(float_param(level, 0.3)), 1.0, 0.0]),
        "translate_x" => {
            affine(img, [1.0, 0.0, signed(int_param(level, img.width as f64 / 3.0) as f64), 0.0, 1.0, 0.0])
        }
        "translate_y" => {
            affine(img, [1.0, 0.0, 0.0, 0.0, 1.0, signed(int_param(level, img.height as f64 / 3.0) as f64)])
        }
        "color" => color(img, float_param(level, 1.8) + 0.1),
        "contrast" => contrast(img, float_param(level, 1.8) + 0.1),
        "brightness" => brightness(img, float_param(level, 1.8) + 0.1),
        "sharpness" => sharpness(img, float_param(level, 1.8) + 0.1),
        _ => img.clone(),
    }
}

/// `augment_and_mix`: `width` chains of random operations mixed with Dirichlet weights, then mixed
/// with the original by m ~ Beta(α, α); returns HWC values in [0,1] (normalisation commutes with the
/// convex mixing, so it stays in the model).
pub fn augment_and_mix(img: &Image, p: &AugMixParams, rng: &mut impl Rng) -> Vec<f32> {
    let ops: Vec<&str> = DEFAULT_OPS.iter().chain(if p.all_ops { &EXTRA_OPS[..] } else { &[] }).copied().collect();
    let weights: Vec<f64> = if p.width > 1 {
        Dirichlet::new_with_size(p.alpha, p.width)
            .map(|d| d.sample(rng))
            .unwrap_or_else(|_| vec![1.0 / p.width as f64; p.width])
    } else {
        vec![1.0; p.width]
    };
    let m = Beta::new(p.alpha, p.alpha).map(|b| b.sample(rng)).unwrap_or(0.5);
    let mut mix = vec![0f64; img.data.len()];
    for w in weights {
        let depth = if p.depth > 0 { p.depth } else { rng.gen_range(1..=3) };
        let mut aug = img.clone();
        for _ in 0..depth {
            let op = ops[rng.gen_range(0..ops.len())];
            let level = rng.gen_range(0.1..=p.severity.max(0.1));
            aug = apply_op(op, &aug, level, rng);
        }
        for (acc, &v) in mix.iter_mut().zip(&aug.data) {
            *acc += w * v as f64 / 255.0;
        }
    }
    img.data.iter().zip(&mix).map(|(&v, &a)| ((1.0 - m) * v as f64 / 255.0 + m * a) as f32).collect()
}
