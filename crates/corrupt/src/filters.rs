//! Filters the reference generator borrows from SciPy, OpenCV and PIL, reimplemented on f64 planes.

/// SciPy `gaussian_filter` on one H×W plane: separable, `truncate = 4`, mode "nearest".
pub fn gaussian_nearest(plane: &[f64], h: usize, w: usize, sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let mut k: Vec<f64> = (-radius..=radius).map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp()).collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = k
                .iter()
                .enumerate()
                .map(|(j, kv)| kv * plane[clamp(y as isize + j as isize - radius, h) * w + x])
                .sum();
        }
    }
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] =
                k.iter().enumerate().map(|(j, kv)| kv * tmp[y * w + clamp(x as isize + j as isize - radius, w)]).sum();
        }
    }
    out
}

/// OpenCV's BORDER_REFLECT_101 index (…cba|abcd|dcb…) for any offset.
pub fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// OpenCV `filter2D` (correlation, centred anchor, BORDER_REFLECT_101) with a k×k kernel, k odd.
pub fn filter2d_reflect101(plane: &[f64], h: usize, w: usize, kernel: &[f64], k: usize) -> Vec<f64> {
    let r = (k / 2) as isize;
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for ky in 0..k {
                let sy = reflect101(y as isize + ky as isize - r, h);
                for kx in 0..k {
                    acc += kernel[ky * k + kx] * plane[sy * w + reflect101(x as isize + kx as isize - r, w)];
                }
            }
            out[y * w + x] = acc;
        }
    }
    out
}

/// OpenCV `getGaussianKernel(n, sigma)` for sigma > 0.
pub fn gaussian_kernel_1d(n: usize, sigma: f64) -> Vec<f64> {
    let c = (n / 2) as f64;
    let mut k: Vec<f64> = (0..n).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// PIL's resampling coefficients for the BOX filter: for each output index, (first input index, weights).
fn box_coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as isize).max(0) as usize;
            let xmax = ((center + support + 0.5) as usize).min(in_size);
            let mut ws: Vec<f64> = (xmin..xmax)
                .map(|x| {
                    let t = (x as f64 - center + 0.5) / filterscale;
                    if t > -0.5 && t <= 0.5 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = ws.iter().sum();
            if total != 0.0 {
                ws.iter_mut().for_each(|v| *v /= total);
            }
            (xmin, ws)
        })
        .collect()
}

/// PIL `Image.resize(size, BOX)` on u8 HWC: a horizontal pass rounded to u8, then a vertical one.
/// PIL rounds with 22-bit fixed-point weights; f64 weights can differ from it by one in rare ties.
pub fn box_resize(src: &[u8], (h, w, c): (usize, usize, usize), (oh, ow): (usize, usize)) -> Vec<u8> {
    let round = |v: f64| (v + 0.5).floor().clamp(0.0, 255.0) as u8;
    let cx = box_coefficients(w, ow);
    let mut tmp = vec![0u8; h * ow * c];
    for y in 0..h {
        for (x, (x0, ws)) in cx.iter().enumerate() {
            for ch in 0..c {
                let v: f64 = ws.iter().enumerate().map(|(j, wt)| wt * src[(y * w + x0 + j) * c + ch] as f64).sum();
                tmp[(y * ow + x) * c + ch] = round(v);
            }
        }
    }
    let cy = box_coefficients(h, oh);
    let mut out = vec![0u8; oh * ow * c];
    for (y, (y0, ws)) in cy.iter().enumerate() {
        for x in 0..ow {
            for ch in 0..c {
                let v: f64 = ws.iter().enumerate().map(|(j, wt)| wt * tmp[((y0 + j) * ow + x) * c + ch] as f64).sum();
                out[(y * ow + x) * c + ch] = round(v);
            }
        }
    }
    out
}
