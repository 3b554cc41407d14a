//! The SciPy (and NumPy) arithmetic the reference generator uses, on f64 planes: `gaussian_filter`
//! through `correlate1d`'s folded sums with its borders, and NumPy's pairwise `sum`, to the bit.

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
