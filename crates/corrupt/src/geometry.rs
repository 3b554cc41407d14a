//! Resampling the reference borrows from SciPy and OpenCV: zoom, affine warps, displacement maps.
use crate::opencv::reflect101;
use crate::scipy::Border;

/// ⌊v⌋ without a libm call (the portable x86-64 target has no rounding instruction); exact for
/// |v| < 2⁶³.
pub(crate) fn floor(v: f64) -> f64 {
    let t = v as i64 as f64;
    if t > v {
        t - 1.0
    } else {
        t
    }
}

/// Bilinear sample of a plane at (y, x), neighbours found through `border`.
fn bilinear(plane: &[f64], h: usize, w: usize, y: f64, x: f64, border: impl Fn(isize, usize) -> usize) -> f64 {
    let mut out = [0.0];
    bilinear_pixel(plane, (h, w, 1), (y, x), border, &mut out);
    out[0]
}

/// [`bilinear`] for every channel of interleaved (h, w, c) values at once, written to `out` (c values):
/// the neighbours and weights are found once per pixel, each channel's arithmetic is the same.
fn bilinear_pixel(
    data: &[f64],
    (h, w, c): (usize, usize, usize),
    (y, x): (f64, f64),
    border: impl Fn(isize, usize) -> usize,
    out: &mut [f64],
) {
    let (y0, x0) = (floor(y), floor(x));
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let (r0, r1) = (border(y0, h) * w, border(y0 + 1, h) * w);
    let (c0, c1) = (border(x0, w), border(x0 + 1, w));
    let [a, b, d, e] = [(r0 + c0) * c, (r0 + c1) * c, (r1 + c0) * c, (r1 + c1) * c];
    for (ch, o) in out.iter_mut().enumerate() {
        let top = data[a + ch] * (1.0 - fx) + data[b + ch] * fx;
        let bottom = data[d + ch] * (1.0 - fx) + data[e + ch] * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
}

/// SciPy `ndimage.zoom(order=1)` of one plane: output size round(n·z) (ties to even, as Python's
/// `round`), sample positions o·(n−1)/(m−1) so that the corners map onto the corners.
pub fn zoom_linear(plane: &[f64], (h, w): (usize, usize), zoom: f64) -> (Vec<f64>, usize, usize) {
    let (oh, ow) = (((h as f64) * zoom).round_ties_even() as usize, ((w as f64) * zoom).round_ties_even() as usize);
    let scale = |n: usize, m: usize| if m > 1 { (n as f64 - 1.0) / (m as f64 - 1.0) } else { 0.0 };
    let (sy, sx) = (scale(h, oh), scale(w, ow));
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = bilinear(plane, h, w, y as f64 * sy, x as f64 * sx, clamp);
        }
    }
    (out, oh, ow)
}

/// The reference's `clipped_zoom` on interleaved (h, w, c) values: crop the centre ⌈n/z⌉, zoom it
/// by z, trim the result back to the original size around its centre (`make_cifar_c.py`,
/// `make_imagenet_c.py`). Only the kept pixels are computed, each with [`zoom_linear`]'s arithmetic,
/// so the result is the same to the bit.
pub fn clipped_zoom(data: &[f64], shape: (usize, usize, usize), zoom: f64) -> Vec<f64> {
    let mut out = vec![0.0; data.len()];
    add_clipped_zoom(&mut out, data, shape, zoom);
    out
}

/// A sum that zoomed values (computed in f64, as SciPy does) are added to: f64, or f32 where the
/// reference zooms a float32 array (SciPy rounds each output value to the array's dtype).
pub trait ZoomSum: Copy {
    /// Adds `v`, rounded to this type first.
    fn add(&mut self, v: f64);
}

impl ZoomSum for f64 {
    fn add(&mut self, v: f64) {
        *self += v;
    }
}

impl ZoomSum for f32 {
    fn add(&mut self, v: f64) {
        *self += v as f32;
    }
}

/// Adds [`clipped_zoom`]`(data, shape, zoom)` to `acc`.
pub fn add_clipped_zoom<T: ZoomSum>(acc: &mut [T], data: &[f64], (h, w, c): (usize, usize, usize), zoom: f64) {
    let rows = zoom_axis(h, zoom, Keep::CentreTrim);
    let cols = zoom_axis(w, zoom, Keep::CentreTrim);
    add_zoomed(acc, data, (h, w, c), &rows, &cols);
}

/// `imagecorruptions`' `clipped_zoom` on interleaved (h, w, c) values: crop the centre ⌈n/z⌉ and
/// zoom it by z, without trimming; returns the zoomed values and their height and width
/// (round(⌈n/z⌉·z) per axis, at least n for z ≥ 1). Bit-identical to [`zoom_linear`] of the crop.
pub fn zoom_centre_crop(data: &[f64], (h, w, c): (usize, usize, usize), zoom: f64) -> (Vec<f64>, usize, usize) {
    let rows = zoom_axis(h, zoom, Keep::All);
    let cols = zoom_axis(w, zoom, Keep::All);
    let mut out = vec![0.0; rows.len() * cols.len() * c];
    add_zoomed(&mut out, data, (h, w, c), &rows, &cols);
    (out, rows.len(), cols.len())
}

/// Adds the zoom whose output positions are `rows` × `cols` (from [`zoom_axis`]) to `acc`. Two
/// passes: the needed source rows are interpolated across once (each value is the per-pixel
/// formula's `top` or `bottom`), then every output row mixes two of them, a loop that vectorises.
fn add_zoomed<T: ZoomSum>(
    acc: &mut [T],
    data: &[f64],
    (_, w, c): (usize, usize, usize),
    rows: &[(usize, usize, f64)],
    cols: &[(usize, usize, f64)],
) {
    let first = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.1).max().unwrap_or(0);
    let (line, out_line) = (w * c, cols.len() * c);
    let mut across = vec![0.0; (last + 1 - first) * out_line];
    for (src, dst) in data[first * line..(last + 1) * line].chunks_exact(line).zip(across.chunks_exact_mut(out_line)) {
        for (&(c0, c1, fx), px) in cols.iter().zip(dst.chunks_exact_mut(c)) {
            for (ch, v) in px.iter_mut().enumerate() {
                *v = src[c0 * c + ch] * (1.0 - fx) + src[c1 * c + ch] * fx;
            }
        }
    }
    for (row, &(r0, r1, fy)) in acc.chunks_exact_mut(out_line).zip(rows) {
        let top = &across[(r0 - first) * out_line..(r0 - first + 1) * out_line];
        let bottom = &across[(r1 - first) * out_line..(r1 - first + 1) * out_line];
        for ((a, &t), &b) in row.iter_mut().zip(top).zip(bottom) {
            a.add(t * (1.0 - fy) + b * fy);
        }
    }
}

/// Which output positions of a centre crop zoomed by z a zoom keeps.
#[derive(Clone, Copy)]
enum Keep {
    /// n positions around the centre (`make_cifar_c.py`'s trim).
    CentreTrim,
    /// All round(⌈n/z⌉·z) positions (`imagecorruptions`).
    All,
}

/// Along one axis of length `n`: for each kept output position of the centre crop ⌈n/z⌉ zoomed by
/// z, the two source positions in the full plane and the weight of the second.
fn zoom_axis(n: usize, zoom: f64, keep: Keep) -> Vec<(usize, usize, f64)> {
    let crop = ((n as f64) / zoom).ceil() as usize;
    let start = n.saturating_sub(crop) / 2;
    let crop = crop.min(n);
    let zoomed = ((crop as f64) * zoom).round_ties_even() as usize;
    let scale = if zoomed > 1 { (crop as f64 - 1.0) / (zoomed as f64 - 1.0) } else { 0.0 };
    let (trim, kept) = match keep {
        Keep::CentreTrim => (zoomed.saturating_sub(n) / 2, n),
        Keep::All => (0, zoomed),
    };
    let clamp = |i: isize| start + i.clamp(0, crop as isize - 1) as usize;
    (0..kept)
        .map(|i| {
            let at = ((trim + i).min(zoomed - 1)) as f64 * scale;
            let floor = at.floor();
            (clamp(floor as isize), clamp(floor as isize + 1), at - floor)
        })
        .collect()
}

/// OpenCV `getAffineTransform`: the 2×3 matrix taking the three `from` points (x, y) onto `to`.
pub fn affine_from_points(from: [[f64; 2]; 3], to: [[f64; 2]; 3]) -> [[f64; 3]; 2] {
    let [[x0, y0], [x1, y1], [x2, y2]] = from;
    let det = x0 * (y1 - y2) - y0 * (x1 - x2) + (x1 * y2 - x2 * y1);
    let solve = |u: [f64; 3]| {
        let a = (u[0] * (y1 - y2) - y0 * (u[1] - u[2]) + (u[1] * y2 - u[2] * y1)) / det;
        let b = (x0 * (u[1] - u[2]) - u[0] * (x1 - x2) + (x1 * u[2] - x2 * u[1])) / det;
        let c = (x0 * (y1 * u[2] - y2 * u[1]) - y0 * (x1 * u[2] - x2 * u[1]) + u[0] * (x1 * y2 - x2 * y1)) / det;
        [a, b, c]
    };
    [solve([to[0][0], to[1][0], to[2][0]]), solve([to[0][1], to[1][1], to[2][1]])]
}

/// OpenCV `warpAffine(src, M)` with bilinear interpolation and BORDER_REFLECT_101 on interleaved
/// (h, w, c) values: dst(x, y) = src(M⁻¹·(x, y)). OpenCV interpolates with 5-bit fixed-point
/// weights; this uses f64.
pub fn warp_affine_reflect101(data: &[f64], (h, w, c): (usize, usize, usize), m: [[f64; 3]; 2]) -> Vec<f64> {
    let [[a, b, cx], [d, e, f]] = m;
    let det = a * e - b * d;
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    let mut out = vec![0.0; data.len()];
    for (y, row) in out.chunks_exact_mut(w * c).enumerate() {
        for (x, px) in row.chunks_exact_mut(c).enumerate() {
            let (u, v) = (x as f64 - cx, y as f64 - f);
            bilinear_pixel(data, (h, w, c), (id * u + ie * v, ia * u + ib * v), reflect101, px);
        }
    }
    out
}

/// SciPy `map_coordinates(order=1, mode="reflect")` on interleaved (h, w, c) values at
/// (y + dy, x + dx) for every pixel, as SciPy computes it: each coordinate folded into range by
/// [`scipy_reflect_coordinate`], weights 1 − t and 1 − (1 − t) for t = v − ⌊v⌋, and the four corners
/// summed from zero in order as value·w_y·w_x.
pub fn map_coordinates_reflect(data: &[f64], (h, w, c): (usize, usize, usize), dy: &[f64], dx: &[f64]) -> Vec<f64> {
    if c == 3 {
        // RGB pixels padded to four lanes, so each corner is one vector load and two multiplies.
        let padded: Vec<[f64; 4]> = data.chunks_exact(3).map(|p| [p[0], p[1], p[2], 0.0]).collect();
        crate::simd::dispatch!(map_rgb(&padded, (h, w), dy, dx))
    } else {
        let pixels: Vec<[f64; 1]> = data.iter().map(|&v| [v]).collect();
        map_pixels::<1, 1>(&pixels, (h, w), dy, dx)
    }
}

#[inline(always)]
fn map_rgb(pixels: &[[f64; 4]], shape: (usize, usize), dy: &[f64], dx: &[f64]) -> Vec<f64> {
    map_pixels::<3, 4>(pixels, shape, dy, dx)
}

/// [`map_coordinates_reflect`] on pixels of `L` lanes whose first `C` are the channels (each lane's
/// sum is its own, so the padding does not touch the channels' arithmetic).
#[inline(always)]
fn map_pixels<const C: usize, const L: usize>(
    pixels: &[[f64; L]],
    (h, w): (usize, usize),
    dy: &[f64],
    dx: &[f64],
) -> Vec<f64> {
    // The two neighbours (reflected into range) and their weights along an axis of length n: inside
    // [0, n − 1) directly (truncation is the floor there), elsewhere through SciPy's folding.
    let taps = |v: f64, n: usize| {
        if v >= 0.0 && v < (n - 1) as f64 {
            let i = v as usize;
            let w0 = 1.0 - (v - i as f64);
            return (i, i + 1, w0, 1.0 - w0);
        }
        let v = scipy_reflect_coordinate(v, n);
        let below = floor(v);
        let w0 = 1.0 - (v - below);
        let i = below as isize;
        let (i0, i1) = if i >= 0 && i + 1 < n as isize {
            (i as usize, i as usize + 1)
        } else {
            (Border::Reflect.index(i, n), Border::Reflect.index(i + 1, n))
        };
        (i0, i1, w0, 1.0 - w0)
    };
    let mut out = vec![0.0; h * w * C];
    for (y, row) in out.chunks_exact_mut(w * C).enumerate() {
        for (x, px) in row.chunks_exact_mut(C).enumerate() {
            let i = y * w + x;
            let (r0, r1, wy0, wy1) = taps(y as f64 + dy[i], h);
            let (c0, c1, wx0, wx1) = taps(x as f64 + dx[i], w);
            let (r0, r1) = (r0 * w, r1 * w);
            let corners = [(r0 + c0, wy0, wx0), (r0 + c1, wy0, wx1), (r1 + c0, wy1, wx0), (r1 + c1, wy1, wx1)];
            let mut t = [0.0; L];
            for (at, wy, wx) in corners {
                let values = &pixels[at];
                for k in 0..L {
                    t[k] += values[k] * wy * wx;
                }
            }
            px.copy_from_slice(&t[..C]);
        }
    }
    out
}

/// SciPy's `map_coordinate` for mode "reflect": a coordinate outside [0, n − 1] folded back the way
/// SciPy does before it interpolates (about −½ and n − ½, whole periods of 2n removed first).
pub fn scipy_reflect_coordinate(v: f64, n: usize) -> f64 {
    let (len, period) = (n as f64, 2.0 * n as f64);
    if (0.0..=len - 1.0).contains(&v) {
        return v;
    }
    if n <= 1 {
        return 0.0;
    }
    if v < 0.0 {
        let v = if v < -period { period * ((-v / period) as i64 as f64) + v } else { v };
        if v < -len {
            v + period
        } else {
            (if v > -1e-15 { 1e-15 } else { -v }) - 1.0
        }
    } else {
        let v = v - period * ((v / period) as i64 as f64);
        if v >= len {
            period - v - 1.0
        } else {
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX copy of the four-lane RGB loop gives the portable loop's bits, folded borders included.
    #[test]
    fn the_dispatched_rgb_map_coordinates_equal_the_portable_loop_bit_for_bit() {
        let (h, w) = (23, 31);
        let pixels: Vec<[f64; 4]> = (0..h * w)
            .map(|i| [0, 1, 2].map(|k| ((i * 3 + k) * 7919 % 1000) as f64 / 999.0))
            .map(|[a, b, c]| [a, b, c, 0.0])
            .collect();
        let shift = |i: usize, k: usize| ((i * k) % 97) as f64 / 8.0 - 6.0;
        let (dy, dx): (Vec<f64>, Vec<f64>) = (0..h * w).map(|i| (shift(i, 13), shift(i, 29))).unzip();
        let wide = crate::simd::dispatch!(map_rgb(&pixels, (h, w), &dy, &dx));
        let portable = map_rgb(&pixels, (h, w), &dy, &dx);
        assert!(wide.iter().zip(&portable).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
