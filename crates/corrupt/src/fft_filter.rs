//! [`filter2d_reflect101`](crate::opencv::filter2d_reflect101) through the 2-D FFT, for kernels
//! with many taps (defocus blur at ImageNet sizes): the same correlation, equal to the direct sum up
//! to f64 rounding, as OpenCV's `filter2D` itself switches to a DFT for large kernels.
use crate::opencv::reflect101;
use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Plans, kernel spectra and the two transform buffers, reused by every image of a thread (fresh
/// megabyte buffers per image cost more in page faults than the transforms).
struct Cache {
    planner: FftPlanner<f64>,
    /// conj(FFT(kernel)), transposed (columns × rows), by kernel bits and transform size.
    spectra: HashMap<(Vec<u64>, usize, usize), Arc<Vec<Complex64>>>,
    rows: Vec<Complex64>,
    columns: Vec<Complex64>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        planner: FftPlanner::new(),
        spectra: HashMap::new(),
        rows: Vec::new(),
        columns: Vec::new(),
    });
}

/// The smallest 2ᵃ·3ᵇ at least `n` that is not a power of two above 64: sizes rustfft transforms
/// quickly (measured: 243 and 288 beat 256 and 250 at 224 px, power-of-two strides conflict in the
/// cache during the column passes).
fn fast_size(n: usize) -> usize {
    let smooth = |mut m: usize| {
        for p in [2, 3] {
            while m.is_multiple_of(p) {
                m /= p;
            }
        }
        m == 1
    };
    (n..).find(|&m| smooth(m) && !(m > 64 && m.is_power_of_two())).expect("a smooth size exists")
}

/// The transform size for an h×w plane padded by a k×k kernel's half-width on every side.
fn transform_size((h, w): (usize, usize), k: usize) -> (usize, usize) {
    (fast_size(h + k - 1), fast_size(w + k - 1))
}

/// Whether the FFT is cheaper than the direct sum for `taps` non-zero taps of a k×k kernel on an
/// h×w image. Measured on this engine: the direct sum costs about as much as the transforms when
/// taps·h·w is 25 times the padded transform's area.
pub fn worth_it(taps: usize, (h, w): (usize, usize), k: usize) -> bool {
    let (ny, nx) = transform_size((h, w), k);
    taps * h * w > 25 * ny * nx
}

/// Correlates every channel of interleaved (h, w, c) values with the k×k `kernel` (k odd, centred
/// anchor, BORDER_REFLECT_101), two channels per complex transform (one as the real part, one as
/// the imaginary part: the kernel is real, so they do not mix).
pub fn filter2d_reflect101_fft(data: &[f64], (h, w, c): (usize, usize, usize), kernel: &[f64], k: usize) -> Vec<f64> {
    let r = k / 2;
    let (ny, nx) = transform_size((h, w), k);
    let scale = 1.0 / (ny * nx) as f64;
    let mut out = vec![0.0; data.len()];
    CACHE.with(|cache| {
        let cache = &mut *cache.borrow_mut();
        let [fx, fy, ix, iy] = [(nx, false), (ny, false), (nx, true), (ny, true)].map(|(n, inverse)| {
            if inverse {
                cache.planner.plan_fft_inverse(n)
            } else {
                cache.planner.plan_fft_forward(n)
            }
        });
        let key = (kernel.iter().map(|v| v.to_bits()).collect(), ny, nx);
        let (rows, columns) = (&mut cache.rows, &mut cache.columns);
        rows.resize(ny * nx, Complex64::default());
        columns.resize(ny * nx, Complex64::default());
        let spectrum = cache
            .spectra
            .entry(key)
            .or_insert_with(|| {
                rows.fill(Complex64::default());
                for (i, &v) in kernel.iter().enumerate() {
                    rows[(i / k) * nx + i % k] = Complex64::new(v, 0.0);
                }
                spectrum_2d(rows, columns, (ny, nx), (&fx, &fy));
                Arc::new(columns.iter().map(|z| z.conj()).collect())
            })
            .clone();
        let cols: Vec<usize> = (0..w + 2 * r).map(|x| reflect101(x as isize - r as isize, w)).collect();
        for first in (0..c).step_by(2) {
            let second = (first + 1 < c).then_some(first + 1);
            rows.fill(Complex64::default());
            for (y, row) in rows.chunks_exact_mut(nx).take(h + 2 * r).enumerate() {
                let line = &data[reflect101(y as isize - r as isize, h) * w * c..][..w * c];
                for (z, &x) in row.iter_mut().zip(&cols) {
                    *z = Complex64::new(line[x * c + first], second.map_or(0.0, |s| line[x * c + s]));
                }
            }
            spectrum_2d(rows, columns, (ny, nx), (&fx, &fy));
            columns.iter_mut().zip(spectrum.iter()).for_each(|(z, s)| *z *= s);
            // Inverse: columns (still transposed), back to rows, then rows.
            iy.process(columns);
            transpose::transpose(columns, rows, ny, nx);
            ix.process(rows);
            for (row, line) in rows.chunks_exact(nx).zip(out.chunks_exact_mut(w * c)) {
                for (z, px) in row.iter().zip(line.chunks_exact_mut(c)) {
                    px[first] = z.re * scale;
                    if let Some(s) = second {
                        px[s] = z.im * scale;
                    }
                }
            }
        }
    });
    out
}

/// The 2-D FFT of the ny×nx `rows` (rows, then columns), written transposed (nx×ny) to `columns`.
fn spectrum_2d(
    rows: &mut [Complex64],
    columns: &mut [Complex64],
    (ny, nx): (usize, usize),
    (fft_x, fft_y): (&Arc<dyn Fft<f64>>, &Arc<dyn Fft<f64>>),
) {
    fft_x.process(rows);
    transpose::transpose(rows, columns, nx, ny);
    fft_y.process(columns);
}
