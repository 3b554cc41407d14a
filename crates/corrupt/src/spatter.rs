//! Spatter (docs/methods.md §4.1.2): water drops drawn from the edges of a thresholded noise layer, or mud
//! blobs, in the dtypes `imagecorruptions` 1.1.2 computes them in: the image float32, the water
//! texture from the OpenCV operations of [`crate::opencv`], the mud mask float32.
use crate::image::{clip_to_byte, unit_table_f32, unit_to_byte};
use crate::opencv::{blur3_f32, blur3_u8, canny, distance_transform, equalize_hist, filter3_u8};
use crate::scipy::{gaussian_nearest, gaussian_nearest_f32};
use crate::wyrand::Wyrand;
use crate::Image;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Spatter parameters: layer mean and std, blur σ, threshold, intensity, mud (else water).
#[derive(Clone, Copy, Debug)]
pub struct Spatter {
    pub mean: f64,
    pub std: f64,
    pub sigma: f64,
    pub threshold: f64,
    pub intensity: f64,
    pub mud: bool,
}

/// Water is pale turquoise, mud is brown (RGB bytes).
const WATER: [f64; 3] = [175.0, 238.0, 238.0];
const MUD: [f64; 3] = [63.0, 42.0, 20.0];
/// The gray weights the size-adaptive reference uses for gray images.
const GRAY: [f64; 3] = [0.2989, 0.5870, 0.1140];
/// The reference's emboss kernel for the water texture.
const EMBOSS: [i32; 9] = [-2, -1, 0, -1, 1, 1, 0, 1, 2];

/// Spatter: a N(μ, σ) layer blurred (σ_b) and zeroed below the threshold. Water: the layer's Canny
/// edges → distance transform truncated at 20 → 3×3 mean → equalised → embossed → 3×3 mean, times
/// the layer, normalised to `intensity`, added in turquoise. Mud: the thresholded layer blurred by
/// σ = intensity, kept where ≥ 0.8, replaces the image by brown in proportion.
pub fn spatter(img: &Image, p: Spatter, rng: &mut impl Rng) -> Image {
    let (h, w) = (img.height, img.width);
    let normal = Normal::new(p.mean, p.std).expect("positive std");
    let mut draws = Wyrand::new(rng.gen());
    let layer: Vec<f64> = (0..h * w).map(|_| normal.sample(&mut draws)).collect();
    spatter_from_layer(img, p, &gaussian_nearest(&layer, h, w, p.sigma))
}

/// [`spatter`] given its layer after the Gaussian blur (H×W float64), the rest as imagecorruptions
/// computes it. Where the water layer is zero everywhere the reference divides by a zero maximum and
/// returns black; this returns the image unchanged.
pub fn spatter_from_layer(img: &Image, p: Spatter, blurred: &[f64]) -> Image {
    let thresholded = blurred.iter().map(|&v| if v < p.threshold { 0.0 } else { v });
    if p.mud {
        mud(img, p, thresholded.map(|v| if v > p.threshold { 1.0 } else { 0.0 }).collect())
    } else {
        water(img, p, thresholded.map(|v| clip_to_byte(v * 255.0)).collect())
    }
}

/// Water: x + mask·turquoise in float32, clipped to [0, 1], ×255 and truncated. Gray images add the
/// gray value (float64) of the clipped turquoise, as the reference's own `rgb2gray`.
fn water(img: &Image, p: Spatter, levels: Vec<u8>) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let Some(m) = water_mask(&levels, (h, w), p.intensity as f32) else {
        return img.clone();
    };
    let (unit, colour) = (unit_table_f32(), WATER.map(|v| (v / 255.0) as f32));
    let mut data = Vec::with_capacity(h * w * c);
    if c == 3 {
        for (pixel, &mv) in img.data.chunks_exact(3).zip(&m) {
            data.extend(
                pixel.iter().zip(&colour).map(|(&v, &k)| ((unit[v as usize] + mv * k).clamp(0.0, 1.0) * 255.0) as u8),
            );
        }
    } else {
        for (&v, &mv) in img.data.iter().zip(&m) {
            let gray = colour.iter().zip(GRAY).fold(0.0, |s, (&k, g)| s + (mv * k).clamp(0.0, 1.0) as f64 * g);
            data.push(unit_to_byte(unit[v as usize] as f64 + gray));
        }
    }
    Image { data, ..*img }
}

/// The water mask of the reference's spatter (mode 0): the Canny edges of the layer's bytes, their
/// float32 distance transform truncated at 20, 3×3 mean, truncated to bytes, equalised, embossed,
/// 3×3 mean; times the layer's bytes, divided by the maximum and times `intensity`, in float32.
/// None where the product is zero everywhere.
fn water_mask(levels: &[u8], (h, w): (usize, usize), intensity: f32) -> Option<Vec<f32>> {
    let not_edge: Vec<bool> = canny(levels, (h, w), 50.0, 150.0).into_iter().map(|e| !e).collect();
    let dist: Vec<f32> = distance_transform(&not_edge, (h, w)).into_iter().map(|d| d.min(20.0)).collect();
    let dist: Vec<u8> = blur3_f32(&dist, (h, w)).into_iter().map(|v| v as u8).collect();
    let texture = blur3_u8(&filter3_u8(&equalize_hist(&dist), (h, w), &EMBOSS), (h, w));
    let m: Vec<f32> = levels.iter().zip(&texture).map(|(&l, &t)| l as f32 * t as f32).collect();
    let max = m.iter().copied().fold(0.0, f32::max);
    (max > 0.0).then(|| m.into_iter().map(|v| v / max * intensity).collect())
}

/// Mud: the mask of the layer above the threshold, blurred by σ = intensity in float32 and zeroed
/// below 0.8; the image (float32) times 1 − mask, plus brown times the mask in float64, clipped, ×255
/// and truncated, as the reference mixes the dtypes. Gray images add brown's gray value.
fn mud(img: &Image, p: Spatter, mask: Vec<f64>) -> Image {
    let (h, w, c) = (img.height, img.width, img.channels);
    let m: Vec<f32> =
        gaussian_nearest_f32(&mask, h, w, p.intensity).into_iter().map(|v| if v < 0.8 { 0.0 } else { v }).collect();
    let (unit, brown) = (unit_table_f32(), MUD.map(|v| v / 255.0));
    let mut data = Vec::with_capacity(h * w * c);
    for (pixel, &mv) in img.data.chunks_exact(c).zip(&m) {
        let keep = 1.0 - mv;
        if c == 3 {
            data.extend(
                pixel.iter().zip(brown).map(|(&v, b)| unit_to_byte((unit[v as usize] * keep) as f64 + b * mv as f64)),
            );
        } else {
            let gray = brown.iter().zip(GRAY).fold(0.0, |s, (&b, g)| s + b * mv as f64 * g);
            data.push(unit_to_byte((unit[pixel[0] as usize] * keep) as f64 + gray));
        }
    }
    Image { data, ..*img }
}
