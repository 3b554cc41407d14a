//! Resampling the reference borrows from SciPy and OpenCV: zoom, affine warps, displacement maps.
use crate::filters::{reflect101, Border};

/// Bilinear sample of a plane at (y, x), neighbours found through `border`.
fn bilinear(plane: &[f64], h: usize, w: usize, y: f64, x: f64, border: impl Fn(isize, usize) -> usize) -> f64 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let at = |yy: isize, xx: isize| plane[border(yy, h) * w + border(xx, w)];
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
    let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
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

/// The reference's `clipped_zoom` on one plane: crop the centre ⌈n/z⌉, zoom it by z, trim the result
/// back to the original size around its centre (`make_cifar_c.py`, `make_imagenet_c.py`).
/// Only the kept pixels are computed, each with [`zoom_linear`]'s arithmetic, so the result is the
/// same to the bit.
pub fn clipped_zoom(plane: &[f64], (h, w): (usize, usize), zoom: f64) -> Vec<f64> {
    let rows = clipped_zoom_axis(h, zoom);
    let cols = clipped_zoom_axis(w, zoom);
    let mut out = Vec::with_capacity(h * w);
    for &(r0, r1, fy) in &rows {
        let (above, below) = (&plane[r0 * w..(r0 + 1) * w], &plane[r1 * w..(r1 + 1) * w]);
        for &(c0, c1, fx) in &cols {
            let top = above[c0] * (1.0 - fx) + above[c1] * fx;
            let bottom = below[c0] * (1.0 - fx) + below[c1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Along one axis of length `n`: for each kept output position of [`clipped_zoom`], the two source
/// positions in the full plane and the weight of the second.
fn clipped_zoom_axis(n: usize, zoom: f64) -> Vec<(usize, usize, f64)> {
    let crop = ((n as f64) / zoom).ceil() as usize;
    let start = n.saturating_sub(crop) / 2;
    let crop = crop.min(n);
    let zoomed = ((crop as f64) * zoom).round_ties_even() as usize;
    let scale = if zoomed > 1 { (crop as f64 - 1.0) / (zoomed as f64 - 1.0) } else { 0.0 };
    let trim = zoomed.saturating_sub(n) / 2;
    let clamp = |i: isize| start + i.clamp(0, crop as isize - 1) as usize;
    (0..n)
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

/// OpenCV `warpAffine(src, M)` with bilinear interpolation and BORDER_REFLECT_101 on one plane:
/// dst(x, y) = src(M⁻¹·(x, y)). OpenCV interpolates with 5-bit fixed-point weights; this uses f64.
pub fn warp_affine_reflect101(plane: &[f64], (h, w): (usize, usize), m: [[f64; 3]; 2]) -> Vec<f64> {
    let [[a, b, c], [d, e, f]] = m;
    let det = a * e - b * d;
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f64 - c, y as f64 - f);
            let (sx, sy) = (ia * u + ib * v, id * u + ie * v);
            out[y * w + x] = bilinear(plane, h, w, sy, sx, reflect101);
        }
    }
    out
}

/// SciPy `map_coordinates(order=1, mode="reflect")` on one plane at (y + dy, x + dx) for every pixel.
pub fn displace_reflect(plane: &[f64], (h, w): (usize, usize), dy: &[f64], dx: &[f64]) -> Vec<f64> {
    let border = |i: isize, n: usize| Border::Reflect.index(i, n);
    (0..h * w).map(|i| bilinear(plane, h, w, (i / w) as f64 + dy[i], (i % w) as f64 + dx[i], border)).collect()
}
