//! Filters the reference generator borrows from SciPy, OpenCV and PIL, reimplemented on f64 planes.

/// How a SciPy filter reads beyond the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// aaaa|abcd|dddd
    Nearest,
    /// SciPy "reflect" (half-sample symmetric): dcba|abcd|dcba
    Reflect,
}

impl Border {
    /// The in-range index for offset `i` on an axis of length `n`.
    pub fn index(self, i: isize, n: usize) -> usize {
        if (0..n as isize).contains(&i) {
            return i as usize;
        }
        match self {
            Border::Nearest => i.clamp(0, n as isize - 1) as usize,
            Border::Reflect => {
                let m = i.rem_euclid(2 * n as isize);
                (if m < n as isize { m } else { 2 * n as isize - 1 - m }) as usize
            }
        }
    }
}

/// A symmetric odd 1-D filter as SciPy's `correlate1d` applies one: the centre weight, and the weight
/// of each pair of offsets ±d from the outermost (d = radius) in.
#[derive(Clone, Debug, PartialEq)]
struct SymmetricWeights {
    centre: f64,
    sides: Vec<f64>,
}

impl SymmetricWeights {
    /// The filter's radius (`sides.len()`).
    fn radius(&self) -> usize {
        self.sides.len()
    }
}

/// SciPy `gaussian_filter1d` weights: radius ⌊truncate·σ + 0.5⌋, exp(−0.5/σ²·x²) divided by NumPy's
/// sum of them (`_gaussian_kernel1d`, the same expressions). Symmetric to the bit, as `correlate1d`
/// requires for its folded sum.
fn gaussian_weights(sigma: f64, truncate: f64) -> SymmetricWeights {
    let radius = (truncate * sigma + 0.5) as isize;
    let scale = -0.5 / (sigma * sigma);
    let k: Vec<f64> = (-radius..=radius).map(|x| (scale * (x * x) as f64).exp()).collect();
    let sum = numpy_sum(&k);
    SymmetricWeights { centre: k[radius as usize] / sum, sides: k[..radius as usize].iter().map(|v| v / sum).collect() }
}

/// NumPy's `sum` of a contiguous f64 array, to the bit (`pairwise_sum`: a plain loop under 8 values,
/// eight running sums over blocks of at most 128, halves above that).
pub fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, &v| s + v)
    } else if n <= 128 {
        let mut r: [f64; 8] = a[..8].try_into().expect("eight values");
        let full = n - n % 8;
        for block in a[8..full].chunks_exact(8) {
            r.iter_mut().zip(block).for_each(|(s, &v)| *s += v);
        }
        let head = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        a[full..].iter().fold(head, |s, &v| s + v)
    } else {
        let half = n / 2 - (n / 2) % 8;
        numpy_sum(&a[..half]) + numpy_sum(&a[half..])
    }
}

/// Correlates one H×W plane with symmetric 1-D weights along rows (`vertical`) or columns, centred,
/// with AVX-512 or AVX2 where the CPU has it (the same arithmetic in the same order, so the same bits).
fn filter_axis(plane: &[f64], h: usize, w: usize, k: &SymmetricWeights, vertical: bool, border: Border) -> Vec<f64> {
    crate::simd::dispatch!(filter_axis_body(plane, h, w, k, vertical, border))
}

/// [`filter_axis`]'s loops: each output row is a weighted sum of `2r + 1` source rows (shifted
/// windows of the padded row for the horizontal pass).
#[inline(always)]
fn filter_axis_body(
    plane: &[f64],
    h: usize,
    w: usize,
    k: &SymmetricWeights,
    vertical: bool,
    border: Border,
) -> Vec<f64> {
    let r = k.radius() as isize;
    let mut out = vec![0.0; h * w];
    if vertical {
        let mut rows: Vec<&[f64]> = Vec::with_capacity(2 * r as usize + 1);
        for (y, row) in out.chunks_exact_mut(w).enumerate() {
            rows.clear();
            rows.extend((-r..=r).map(|d| &plane[border.index(y as isize + d, h) * w..][..w]));
            weighted_rows(row, k, &rows);
        }
    } else {
        let mut padded = vec![0.0; w + 2 * r as usize];
        for (row, line) in out.chunks_exact_mut(w).zip(plane.chunks_exact(w)) {
            for (i, p) in padded.iter_mut().enumerate() {
                *p = line[border.index(i as isize - r, w)];
            }
            let rows: Vec<&[f64]> = (0..=2 * r as usize).map(|j| &padded[j..j + w]).collect();
            weighted_rows(row, k, &rows);
        }
    }
    out
}

/// SciPy `correlate1d`'s symmetric sum over `rows` (offsets −r..=r): `out[x] = c·row(0)[x]`, then
/// `+= (row(−d)[x] + row(d)[x])·w_d` for d from the radius down to 1. Thirty-two outputs at a time stay
/// in registers over all offsets, so memory sees one load per row and one store per output.
#[inline(always)]
fn weighted_rows(out: &mut [f64], k: &SymmetricWeights, rows: &[&[f64]]) {
    const LANES: usize = 32;
    let r = k.radius();
    let n = out.len();
    let full = n / LANES * LANES;
    for x in (0..full).step_by(LANES) {
        let mut acc = [0.0f64; LANES];
        let centre = &rows[r][x..x + LANES];
        for (a, &v) in acc.iter_mut().zip(centre) {
            *a = v * k.centre;
        }
        for (j, &kv) in k.sides.iter().enumerate() {
            let (left, right) = (&rows[j][x..x + LANES], &rows[2 * r - j][x..x + LANES]);
            for ((a, &u), &v) in acc.iter_mut().zip(left).zip(right) {
                *a += (u + v) * kv;
            }
        }
        out[x..x + LANES].copy_from_slice(&acc);
    }
    out[full..].iter_mut().zip(&rows[r][full..n]).for_each(|(o, &v)| *o = v * k.centre);
    for (j, &kv) in k.sides.iter().enumerate() {
        let pairs = rows[j][full..n].iter().zip(&rows[2 * r - j][full..n]);
        out[full..].iter_mut().zip(pairs).for_each(|(o, (&u, &v))| *o += (u + v) * kv);
    }
}

/// `out[x] = Σᵢ kᵢ·rows[i][x]`, summed in order from zero. Thirty-two outputs at a time stay in
/// registers over all rows, so memory sees one load per row and one store per output.
#[inline(always)]
pub(crate) fn weighted_sum(out: &mut [f64], k: &[f64], rows: &[&[f64]]) {
    const LANES: usize = 32;
    let n = out.len();
    let full = n / LANES * LANES;
    for x in (0..full).step_by(LANES) {
        let mut acc = [0.0f64; LANES];
        for (&kv, row) in k.iter().zip(rows) {
            for (a, &v) in acc.iter_mut().zip(&row[x..x + LANES]) {
                *a += kv * v;
            }
        }
        out[x..x + LANES].copy_from_slice(&acc);
    }
    out[full..].fill(0.0);
    for (&kv, row) in k.iter().zip(rows) {
        out[full..].iter_mut().zip(&row[full..n]).for_each(|(o, &v)| *o += kv * v);
    }
}

/// SciPy `gaussian_filter` on one H×W plane with a std per axis; an axis whose σ is ~0 is left alone,
/// as SciPy does.
pub fn gaussian_filter(
    plane: &[f64],
    h: usize,
    w: usize,
    sigma: (f64, f64),
    truncate: f64,
    border: Border,
) -> Vec<f64> {
    let mut out = plane.to_vec();
    if sigma.0 > 1e-15 {
        out = filter_axis(&out, h, w, &gaussian_weights(sigma.0, truncate), true, border);
    }
    if sigma.1 > 1e-15 {
        out = filter_axis(&out, h, w, &gaussian_weights(sigma.1, truncate), false, border);
    }
    out
}

/// scikit-image `gaussian` defaults on one plane: `truncate = 4`, mode "nearest".
pub fn gaussian_nearest(plane: &[f64], h: usize, w: usize, sigma: f64) -> Vec<f64> {
    gaussian_filter(plane, h, w, (sigma, sigma), 4.0, Border::Nearest)
}

/// scikit-image `gaussian` defaults on a float32 plane: SciPy computes each pass in f64 and stores it
/// in the float32 output, so each pass is rounded to float32.
pub fn gaussian_nearest_f32(plane: &[f64], h: usize, w: usize, sigma: f64) -> Vec<f32> {
    let k = gaussian_weights(sigma, 4.0);
    let down: Vec<f64> =
        filter_axis(plane, h, w, &k, true, Border::Nearest).into_iter().map(|v| v as f32 as f64).collect();
    filter_axis(&down, h, w, &k, false, Border::Nearest).into_iter().map(|v| v as f32).collect()
}

/// OpenCV `resize` with INTER_LINEAR on one plane (half-pixel centres, edges clamped).
pub fn resize_bilinear(plane: &[f64], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<f64> {
    let taps = |n: usize, on: usize, o: usize| {
        let s = ((o as f64 + 0.5) * n as f64 / on as f64 - 0.5).max(0.0);
        let i = (s.floor() as usize).min(n - 1);
        (i, (i + 1).min(n - 1), s - i as f64)
    };
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        let (y0, y1, fy) = taps(h, oh, y);
        for x in 0..ow {
            let (x0, x1, fx) = taps(w, ow, x);
            let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
            let bottom = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
            out[y * ow + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
    out
}

/// OpenCV's BORDER_REFLECT_101 index (…cba|abcd|dcb…) for any offset.
pub fn reflect101(i: isize, n: usize) -> usize {
    if (0..n as isize).contains(&i) {
        return i as usize;
    }
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// OpenCV `filter2D` (correlation, centred anchor, BORDER_REFLECT_101) with a k×k kernel, k odd.
/// Zero taps are skipped (the defocus disk is mostly zeros); the sum runs in the same row-major tap order.
pub fn filter2d_reflect101(plane: &[f64], h: usize, w: usize, kernel: &[f64], k: usize) -> Vec<f64> {
    let r = (k / 2) as isize;
    let taps: Vec<(isize, isize, f64)> = (0..k * k)
        .filter(|&i| kernel[i] != 0.0)
        .map(|i| ((i / k) as isize - r, (i % k) as isize - r, kernel[i]))
        .collect();
    // The plane padded by r on every side, then one pass per tap over whole rows: each pixel's sum
    // still runs in tap order, and the inner loop has no border logic, so it vectorises.
    let pw = w + 2 * r as usize;
    let padded: Vec<f64> = (-r..h as isize + r)
        .flat_map(|y| (-r..w as isize + r).map(move |x| (y, x)))
        .map(|(y, x)| plane[reflect101(y, h) * w + reflect101(x, w)])
        .collect();
    let mut out = vec![0.0; h * w];
    for &(dy, dx, kv) in &taps {
        for (y, row) in out.chunks_exact_mut(w).enumerate() {
            let start = (y as isize + r + dy) as usize * pw + (r + dx) as usize;
            row.iter_mut().zip(&padded[start..start + w]).for_each(|(o, &v)| *o += kv * v);
        }
    }
    out
}

/// OpenCV `getGaussianKernel(n, sigma, CV_32F)` for n odd and sigma > 0: OpenCV's double recipe
/// (tᵢ = exp(−(i − c)²/(2σ²)) outside the centre, the sum 2·Σtᵢ + 1 from the outermost in, each
/// value times 1/sum, the centre 1/sum), rounded to f32 as `GaussianBlur` uses it on float32 images.
pub fn gaussian_kernel_1d(n: usize, sigma: f64) -> Vec<f32> {
    let c = n / 2;
    let scale = -0.125 / (sigma * sigma);
    let outer: Vec<f64> = (0..c).map(|i| (((2 * (c - i)) * (2 * (c - i))) as f64 * scale).exp()).collect();
    let sum = outer.iter().fold(0.0, |s, &t| s + t) * 2.0 + 1.0;
    let mul = 1.0 / sum;
    let side: Vec<f32> = outer.iter().map(|&t| (t * mul) as f32).collect();
    side.iter().chain([&(mul as f32)]).chain(side.iter().rev()).copied().collect()
}

/// OpenCV `sepFilter2D` of an n×n float32 plane with a symmetric odd kernel `k` along rows, then
/// columns, BORDER_REFLECT_101, in float32 with OpenCV's symmetric sums (x·k₀ + (x₋₁ + x₁)·k₁ + …).
pub fn symmetric_blur_f32(plane: &[f32], n: usize, k: &[f32]) -> Vec<f32> {
    let r = k.len() / 2;
    let at = |i: usize, d: isize| reflect101(i as isize + d, n);
    let pass = |src: &[f32], index: &dyn Fn(usize, usize) -> usize| -> Vec<f32> {
        (0..n * n)
            .map(|p| {
                let (y, x) = (p / n, p % n);
                let tap = |d: isize| src[index(y, at(x, d))];
                (1..=r).fold(tap(0) * k[r], |s, j| s + (tap(-(j as isize)) + tap(j as isize)) * k[r + j])
            })
            .collect()
    };
    let rows = pass(plane, &|y, x| y * n + x);
    pass(&rows, &|x, y| y * n + x)
}

/// PIL's fixed-point precision for 8-bit resampling (`Resample.c`: 32 − 8 − 2 bits).
const PRECISION_BITS: u32 = 22;

/// PIL's BOX coefficients (`precompute_coeffs`, then `normalize_coeffs_8bpc`): for each output index,
/// the first input index and the weights in 22-bit fixed point.
fn box_coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as isize).max(0) as usize;
            let xmax = (((center + support + 0.5) as isize).max(0) as usize).min(in_size);
            let ws: Vec<f64> = (xmin..xmax)
                .map(|x| {
                    let t = (x as f64 - center + 0.5) * ss;
                    if t > -0.5 && t <= 0.5 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = ws.iter().sum();
            let fixed = ws
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v } * (1u32 << PRECISION_BITS) as f64;
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

/// PIL's `clip8`: a fixed-point sum (with its rounding half already added) back to u8.
fn clip8(v: i32) -> u8 {
    if v >= 255 << PRECISION_BITS {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// PIL `Image.resize(size, BOX)` on u8 HWC, to the byte: PIL's fixed-point coefficients and
/// rounding, a horizontal pass then a vertical one (`Resample.c`, 8 bits per channel).
pub fn box_resize(src: &[u8], (h, w, c): (usize, usize, usize), (oh, ow): (usize, usize)) -> Vec<u8> {
    let half = 1i32 << (PRECISION_BITS - 1);
    let cx = box_coefficients(w, ow);
    let mut tmp = vec![0u8; h * ow * c];
    for (line, dst) in src.chunks_exact(w * c).zip(tmp.chunks_exact_mut(ow * c)) {
        for ((x0, ws), px) in cx.iter().zip(dst.chunks_exact_mut(c)) {
            for (ch, v) in px.iter_mut().enumerate() {
                let sum = ws.iter().enumerate().fold(half, |s, (j, &k)| s + line[(x0 + j) * c + ch] as i32 * k);
                *v = clip8(sum);
            }
        }
    }
    let cy = box_coefficients(h, oh);
    let line = ow * c;
    let mut out = vec![0u8; oh * line];
    let mut sums = vec![0i32; line];
    for ((y0, ws), dst) in cy.iter().zip(out.chunks_exact_mut(line)) {
        sums.iter_mut().for_each(|s| *s = half);
        for (j, &k) in ws.iter().enumerate() {
            let row = &tmp[(y0 + j) * line..(y0 + j + 1) * line];
            sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v as i32 * k);
        }
        dst.iter_mut().zip(&sums).for_each(|(d, &s)| *d = clip8(s));
    }
    out
}

/// PIL `Image.resize(size, NEAREST)` on u8 HWC, to the byte (`ImagingScaleAffine`): the source
/// position starts at ½·in/out and grows by in/out per output pixel, added up in f64 as PIL does,
/// and is truncated; a position that the sum pushes past the edge reads black, as PIL fills it.
pub fn nearest_resize(src: &[u8], (h, w, c): (usize, usize, usize), (oh, ow): (usize, usize)) -> Vec<u8> {
    let positions = |n: usize, on: usize| {
        let step = n as f64 / on as f64;
        let mut at = step * 0.5;
        (0..on)
            .map(|_| {
                let index = (at >= 0.0 && (at as usize) < n).then_some(at as usize);
                at += step;
                index
            })
            .collect::<Vec<Option<usize>>>()
    };
    let (rows, cols) = (positions(h, oh), positions(w, ow));
    let mut out = vec![0u8; oh * ow * c];
    for (row, y) in out.chunks_exact_mut(ow * c).zip(rows) {
        let Some(y) = y else { continue };
        for (px, x) in row.chunks_exact_mut(c).zip(&cols) {
            if let Some(x) = x {
                px.copy_from_slice(&src[(y * w + x) * c..(y * w + x + 1) * c]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 or AVX2 copy that `filter_axis` runs on this CPU gives the portable copy's bits.
    #[test]
    fn the_dispatched_filter_equals_the_portable_loops_bit_for_bit() {
        let (h, w) = (37, 53);
        let plane: Vec<f64> = (0..h * w).map(|i| ((i * 7919) % 1000) as f64 / 999.0).collect();
        let k = gaussian_weights(2.7, 4.0);
        for (vertical, border) in [(true, Border::Nearest), (false, Border::Reflect), (false, Border::Nearest)] {
            let wide = filter_axis(&plane, h, w, &k, vertical, border);
            let portable = filter_axis_body(&plane, h, w, &k, vertical, border);
            assert!(wide.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()), "{vertical} {border:?}");
        }
    }

    /// A little-endian float64 fixture written by scripts/imagecorruptions-fixtures.py.
    fn scipy_fixture(name: &str) -> Vec<f64> {
        let path = format!("{}/tests/fixtures/imagecorruptions/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect()
    }

    /// With SciPy's weights, each pass gives SciPy 1.17's `correlate1d` results to the bit (its folded
    /// sum: centre first, then the pairs from the outermost in; a plain sum in tap order differs in
    /// about half of them), on both axes and borders, a radius beyond the side included; our weights
    /// are SciPy's within 2 ulps (NumPy's vectorised `exp`).
    #[test]
    fn each_pass_equals_scipy_correlate1d_to_the_bit() {
        let (h, w) = (23, 29);
        let plane: Vec<f64> = (0..h * w).map(|i| ((i * 7919) % 1000) as f64 / 999.0).collect();
        for sigma in ["0.7", "2.7", "6.0"] {
            let scipy = scipy_fixture(&format!("scipy_gaussian_weights-{sigma}.raw"));
            let r = scipy.len() / 2;
            let k = SymmetricWeights { centre: scipy[r], sides: scipy[..r].to_vec() };
            let ours = gaussian_weights(sigma.parse().expect("a number"), 4.0);
            assert_eq!(ours.radius(), r, "σ {sigma}");
            let ulps = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).abs();
            assert!(ulps(ours.centre, k.centre) <= 2, "σ {sigma}");
            assert!(ours.sides.iter().zip(&k.sides).all(|(&a, &b)| ulps(a, b) <= 2), "σ {sigma}");
            for (border, mode) in [(Border::Nearest, "nearest"), (Border::Reflect, "reflect")] {
                for (vertical, axis) in [(true, 0), (false, 1)] {
                    let expected = scipy_fixture(&format!("scipy_correlate1d-{sigma}-{mode}-{axis}.raw"));
                    let got = filter_axis(&plane, h, w, &k, vertical, border);
                    assert_eq!(got.len(), expected.len());
                    let differ = got.iter().zip(&expected).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                    assert_eq!(differ, 0, "σ {sigma}, {mode}, axis {axis}: {differ} of {} values differ", got.len());
                }
            }
        }
    }
}
