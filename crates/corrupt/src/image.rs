//! A u8 image in HWC order, and its conversion to and from [0,1] floats.

/// Pixels as u8, row-major, channels interleaved (HWC); 1 (gray) or 3 (RGB) channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub data: Vec<u8>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl Image {
    /// Checks the buffer against the shape.
    pub fn new(data: Vec<u8>, height: usize, width: usize, channels: usize) -> crate::Result<Image> {
        if data.len() != height * width * channels || !(channels == 1 || channels == 3) || height == 0 || width == 0 {
            return Err(crate::Error::Shape(format!(
                "{} bytes do not make a {height}x{width} image with 1 or 3 channels (got {channels})",
                data.len()
            )));
        }
        Ok(Image { data, height, width, channels })
    }

    /// Values scaled to [0,1].
    pub fn to_unit(&self) -> Vec<f64> {
        let unit = unit_table();
        self.data.iter().map(|&v| unit[v as usize]).collect()
    }

    /// Back from [0,1] floats the reference's way: clip to [0,1], scale by 255, truncate to u8.
    pub fn from_unit(&self, values: &[f64]) -> Image {
        Image { data: values.iter().map(|&v| unit_to_byte(v)).collect(), ..*self }
    }

    /// `f(value in [0,1])` for every value in order, back to u8 as [`Image::from_unit`] does, without
    /// float buffers (at 224 px those cost more in page faults than the arithmetic).
    pub fn map_unit(&self, mut f: impl FnMut(f64) -> f64) -> Image {
        let unit = unit_table();
        Image { data: self.data.iter().map(|&v| unit_to_byte(f(unit[v as usize]))).collect(), ..*self }
    }

    /// The channel planes (H×W each), scaled to [0,1].
    pub fn unit_planes(&self) -> Vec<Vec<f64>> {
        let (c, unit) = (self.channels, unit_table());
        let mut planes = vec![Vec::with_capacity(self.height * self.width); c];
        for pixel in self.data.chunks_exact(c) {
            planes.iter_mut().zip(pixel).for_each(|(plane, &v)| plane.push(unit[v as usize]));
        }
        planes
    }

    /// Back from [0,1] channel planes, the reference's way (see [`Image::from_unit`]).
    pub fn from_unit_planes(&self, planes: &[Vec<f64>]) -> Image {
        let c = planes.len();
        let mut data = vec![0u8; self.height * self.width * c];
        for (ch, plane) in planes.iter().enumerate() {
            data.iter_mut().skip(ch).step_by(c).zip(plane).for_each(|(d, &v)| *d = unit_to_byte(v));
        }
        Image { data, height: self.height, width: self.width, channels: c }
    }
}

/// A [0,1] value to u8 the reference's way: clip, scale by 255, truncate.
#[inline(always)]
#[allow(clippy::manual_clamp, reason = "max/min turn NaN into 0, as the cast of a NaN clamp does")]
pub(crate) fn unit_to_byte(v: f64) -> u8 {
    clip_to_byte(v.max(0.0).min(1.0) * 255.0)
}

/// `np.uint8(np.clip(v, 0, 255))` (NaN gives 0, as Rust's `v.clamp(0.0, 255.0) as u8`) in plain
/// operations that vectorise, even without SSE4.1's rounding: x + 2⁵² rounds the clipped x to the
/// nearest integer n and holds it in its low mantissa bits; the truncation is n, or n − 1 where n > x.
#[inline(always)]
#[allow(clippy::manual_clamp, reason = "max/min never give NaN, so the bit arithmetic below holds")]
pub(crate) fn clip_to_byte(v: f64) -> u8 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let x = v.max(0.0).min(255.0);
    let shifted = x + TWO_52;
    (shifted.to_bits() as u8).wrapping_sub((shifted - TWO_52 > x) as u8)
}

/// `np.round(v).astype(np.uint8)` for v clipped to [0, 255] (NumPy rounds half to even): x + 2⁵²
/// − 2⁵² rounds x to the nearest integer, ties to even, in plain operations that vectorise.
#[inline(always)]
pub(crate) fn round_to_byte(v: f64) -> u8 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    (v.clamp(0.0, 255.0) + TWO_52 - TWO_52) as u8
}

/// v / 255 for every byte value, the same f64 as the division (a table: the division is slow).
pub(crate) fn unit_table() -> &'static [f64; 256] {
    static TABLE: std::sync::OnceLock<[f64; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|v| v as f64 / 255.0))
}

/// v / 255 in float32 for every byte value, as the reference's `np.float32(x) / 255.`.
pub(crate) fn unit_table_f32() -> &'static [f32; 256] {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|v| v as f32 / 255.0))
}

/// A smooth synthetic RGB picture (waves and a bright square, phase shifted by `index`), closer to a
/// photograph than noise: blurs, codecs and edge detectors do real work on it. For tests and benchmarks.
pub fn sample_picture(side: usize, index: usize) -> Image {
    let s = side as f64;
    let data = (0..side * side * 3)
        .map(|i| {
            let (y, x, c) = ((i / 3 / side) as f64, (i / 3 % side) as f64, (i % 3) as f64);
            let square = if (y - s / 2.0).abs() < s / 5.0 && (x - s / 3.0).abs() < s / 6.0 { 60.0 } else { 0.0 };
            let k = index as f64 * 0.37;
            (110.0 + 50.0 * (x / 3.0 + c + k).sin() + 40.0 * (y / 4.0 - c).cos() + square) as u8
        })
        .collect();
    Image { data, height: side, width: side, channels: 3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorising conversions give the plain clip-and-truncate's byte for every kind of value:
    /// fractions, integers and their neighbouring floats, out of range, ±0, ±∞ and NaN.
    #[test]
    fn the_byte_conversions_equal_clip_and_truncate() {
        let mut values: Vec<f64> = (-4096..=270 * 256).map(|i| i as f64 / 256.0).collect();
        for n in -2..=257 {
            let n = n as f64;
            values.extend([n.next_down(), n, n.next_up()]);
        }
        values.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e300, -1e300, f64::MIN_POSITIVE]);
        for &v in &values {
            assert_eq!(clip_to_byte(v), v.clamp(0.0, 255.0) as u8, "{v:e}");
            let unit = v / 255.0;
            assert_eq!(unit_to_byte(unit), (unit.clamp(0.0, 1.0) * 255.0) as u8, "{unit:e}");
            if !v.is_nan() {
                assert_eq!(round_to_byte(v), v.clamp(0.0, 255.0).round_ties_even() as u8, "{v:e}");
            }
        }
        assert_eq!([0.5, 1.5, 2.5, 254.5].map(round_to_byte), [0, 2, 2, 254], "ties go to even");
    }
}
