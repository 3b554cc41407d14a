//! The Pillow arithmetic the reference generator uses: `Image.resize` with BOX and NEAREST on 8-bit
//! images, to the byte (its fixed-point coefficients and rounding, `Resample.c`).
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
