//! The OpenCV arithmetic the reference generator uses, on one plane: `resize` (INTER_LINEAR),
//! `filter2D`, `getGaussianKernel` and `sepFilter2D` for the blurs; and behind spatter's water texture
//! (docs/methods.md §4.1.2), as the OpenCV 5 wheels of PyPI compute them on one 8-bit or float32 plane:
//! `Canny`, `distanceTransform(DIST_L2, 5)`, `blur(3, 3)`, `equalizeHist` and a 3×3 integer `filter2D`.
//! Each of the water-texture operations equals OpenCV's output to the bit on the fixture planes of
//! `crates/corrupt/tests/imagecorruptions_reference.rs`.

/// OpenCV's `TG22`: tan 22.5° in 15-bit fixed point, Canny's direction split.
const TG22: i64 = 13573;
/// The float32 chamfer weights of `DIST_L2` with the 5×5 mask: straight, diagonal, knight's move.
const CHAMFER: (f32, f32, f32) = (1.0, 1.4, 2.1969);
/// Distance of a pixel with no background pixel in reach yet.
const FAR: f32 = 1e9;

/// The plane with a border of `b` values on every side, each read through `index(offset, n)`.
fn padded<T: Copy>(plane: &[T], (h, w): (usize, usize), b: usize, index: impl Fn(isize, usize) -> usize) -> Vec<T> {
    let bi = b as isize;
    let mut out = Vec::with_capacity((h + 2 * b) * (w + 2 * b));
    for y in -bi..(h + b) as isize {
        let row = &plane[index(y, h) * w..][..w];
        out.extend((-bi..0).map(|x| row[index(x, w)]));
        out.extend_from_slice(row);
        out.extend((w as isize..(w + b) as isize).map(|x| row[index(x, w)]));
    }
    out
}

/// `Canny(img, low, high)` with the 3×3 Sobel (BORDER_REPLICATE), the L1 gradient magnitude,
/// non-maximum suppression in OpenCV's fixed-point directions (tan 22.5° as 13573/2¹⁵) and
/// 8-connected hysteresis; thresholds floored to integers as OpenCV does. True marks an edge.
pub fn canny(img: &[u8], (h, w): (usize, usize), low: f64, high: f64) -> Vec<bool> {
    let (low, high) = (low.floor() as i32, high.floor() as i32);
    let src = padded(img, (h, w), 1, |i, n| i.clamp(0, n as isize - 1) as usize);
    // Gradients and magnitudes on a plane with a zero border one pixel wide (OpenCV's zero rows).
    let pw = w + 2;
    let (mut gx, mut gy, mut mag) = (vec![0i32; (h + 2) * pw], vec![0i32; (h + 2) * pw], vec![0i32; (h + 2) * pw]);
    for y in 1..=h {
        let [r0, r1, r2] = [y - 1, y, y + 1].map(|r| &src[r * pw..][..pw]);
        let at = y * pw + 1;
        let (gx, gy, mag) = (&mut gx[at..at + w], &mut gy[at..at + w], &mut mag[at..at + w]);
        for x in 0..w {
            let col = |r: &[u8], k: usize| r[x + k] as i32;
            let dx = (col(r0, 2) + 2 * col(r1, 2) + col(r2, 2)) - (col(r0, 0) + 2 * col(r1, 0) + col(r2, 0));
            let dy = (col(r2, 0) + 2 * col(r2, 1) + col(r2, 2)) - (col(r0, 0) + 2 * col(r0, 1) + col(r0, 2));
            (gx[x], gy[x], mag[x]) = (dx, dy, dx.abs() + dy.abs());
        }
    }
    // 0: not an edge, 1: candidate, 2: edge.
    let mut state = vec![0u8; (h + 2) * pw];
    let mut stack = Vec::new();
    for y in 1..=h {
        for x in 1..=w {
            let i = y * pw + x;
            let m = mag[i];
            if m <= low || !is_peak(&mag, i, pw, gx[i], gy[i]) {
                continue;
            }
            state[i] = 1 + (m > high) as u8;
            if m > high {
                stack.push(i);
            }
        }
    }
    while let Some(i) = stack.pop() {
        for j in [i - pw - 1, i - pw, i - pw + 1, i - 1, i + 1, i + pw - 1, i + pw, i + pw + 1] {
            if state[j] == 1 {
                state[j] = 2;
                stack.push(j);
            }
        }
    }
    let mut edges = Vec::with_capacity(h * w);
    for y in 1..=h {
        edges.extend(state[y * pw + 1..][..w].iter().map(|&s| s == 2));
    }
    edges
}

/// Canny's non-maximum test at padded index `i`: larger than the neighbour before it and at least the
/// one after it across the edge (strictly larger than both on a diagonal), directions split in
/// OpenCV's fixed point.
fn is_peak(mag: &[i32], i: usize, pw: usize, dx: i32, dy: i32) -> bool {
    let m = mag[i];
    let (x, y) = (dx.unsigned_abs() as i64, (dy.unsigned_abs() as i64) << 15);
    let tg22x = x * TG22;
    if y < tg22x {
        m > mag[i - 1] && m >= mag[i + 1]
    } else if y > tg22x + (x << 16) {
        m > mag[i - pw] && m >= mag[i + pw]
    } else {
        let s: isize = if (dx ^ dy) < 0 { -1 } else { 1 };
        m > mag[(i as isize - pw as isize - s) as usize] && m > mag[(i as isize + pw as isize + s) as usize]
    }
}

/// `distanceTransform(src, DIST_L2, 5)` as the PyPI wheels compute it (Intel IPP's 5×5 chamfer in
/// float32): every `true` pixel's distance to the nearest `false` one through steps of 1, 1.4 and
/// 2.1969 (float32), in a forward and a backward raster pass; [`FAR`] where there is none.
pub fn distance_transform(foreground: &[bool], (h, w): (usize, usize)) -> Vec<f32> {
    let pw = w + 4;
    let mut d = vec![FAR; (h + 4) * pw];
    for (y, row) in foreground.chunks_exact(w).enumerate() {
        d[(y + 2) * pw + 2..][..w].iter_mut().zip(row).for_each(|(v, &f)| *v = if f { FAR } else { 0.0 });
    }
    for y in 2..h + 2 {
        chamfer_row(&mut d, y * pw, pw as isize);
    }
    // The backward pass is the forward one on the plane turned by 180°.
    d.reverse();
    for y in 2..h + 2 {
        chamfer_row(&mut d, y * pw, pw as isize);
    }
    d.reverse();
    let mut out = Vec::with_capacity(h * w);
    for y in 2..h + 2 {
        out.extend_from_slice(&d[y * pw + 2..][..w]);
    }
    out
}

/// One forward chamfer row starting at padded index `start` (rows `pw` apart, two border values each
/// side): each value becomes its minimum with the two rows above plus their steps, then, left to
/// right, with its left neighbour plus 1. The minimum is exact, so the order of the candidates does
/// not change it.
fn chamfer_row(d: &mut [f32], start: usize, pw: isize) {
    let (a, b, c) = CHAMFER;
    let w = pw as usize - 4;
    let (above, row) = d.split_at_mut(start);
    let (two, one) = (&above[start - 2 * pw as usize..][..pw as usize], &above[start - pw as usize..][..pw as usize]);
    let [t1, t3] = [1, 3].map(|k| &two[k..k + w]);
    let [o0, o1, o2, o3, o4] = [0, 1, 2, 3, 4].map(|k| &one[k..k + w]);
    let mut left = row[1];
    let cells = &mut row[2..2 + w];
    for (x, v) in cells.iter_mut().enumerate() {
        let knight = least(least(t1[x], t3[x]), least(o0[x], o4[x])) + c;
        let near = least(least(o1[x], o3[x]) + b, o2[x] + a);
        *v = least(*v, least(knight, near));
    }
    for v in cells.iter_mut() {
        *v = least(*v, left + a);
        left = *v;
    }
}

/// The smaller of two distances (never NaN), in one instruction where `f32::min` takes three.
#[inline(always)]
fn least(a: f32, b: f32) -> f32 {
    if b < a {
        b
    } else {
        a
    }
}

/// `blur(src, (3, 3))` on a float32 plane (BORDER_REFLECT_101): each 3×3 sum in float64, times 1/9,
/// rounded to float32. The sums are exact for the distance values spatter blurs (float32 below 32),
/// so their order does not matter.
pub fn blur3_f32(plane: &[f32], (h, w): (usize, usize)) -> Vec<f32> {
    box3(plane, (h, w), |s: f64| (s * (1.0 / 9.0)) as f32)
}

/// `blur(src, (3, 3))` on an 8-bit plane (BORDER_REFLECT_101): each 3×3 sum divided by 9 and rounded
/// (a sum of nine bytes is never half-way).
pub fn blur3_u8(plane: &[u8], (h, w): (usize, usize)) -> Vec<u8> {
    box3(plane, (h, w), |s: u32| ((s + 4) / 9) as u8)
}

/// The exact 3×3 box sum of every value in `S` (f64 for float32 below 32, u32 for bytes), rows then
/// columns, mapped by `out`.
fn box3<T: Copy + Into<S>, S: Copy + Default + std::ops::Add<Output = S>, U>(
    plane: &[T],
    (h, w): (usize, usize),
    out: impl Fn(S) -> U,
) -> Vec<U> {
    let pw = w + 2;
    let src = padded(plane, (h, w), 1, reflect101);
    let mut across = vec![S::default(); (h + 2) * w];
    for (sums, row) in across.chunks_exact_mut(w).zip(src.chunks_exact(pw)) {
        for (x, s) in sums.iter_mut().enumerate() {
            *s = row[x].into() + row[x + 1].into() + row[x + 2].into();
        }
    }
    let mut result = Vec::with_capacity(h * w);
    for y in 0..h {
        let [a, b, c] = [y, y + 1, y + 2].map(|r| &across[r * w..][..w]);
        result.extend((0..w).map(|x| out(a[x] + b[x] + c[x])));
    }
    result
}

/// `filter2D(src, CV_8U, kernel)` for a 3×3 integer kernel (row-major, BORDER_REFLECT_101): the
/// integer sum, saturated to 0–255.
pub fn filter3_u8(plane: &[u8], (h, w): (usize, usize), kernel: &[i32; 9]) -> Vec<u8> {
    let pw = w + 2;
    let src = padded(plane, (h, w), 1, reflect101);
    let mut sums = vec![0i32; w];
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        sums.fill(0);
        for (t, &k) in kernel.iter().enumerate().filter(|(_, &k)| k != 0) {
            let taps = &src[(y + t / 3) * pw + t % 3..][..w];
            sums.iter_mut().zip(taps).for_each(|(s, &v)| *s += k * v as i32);
        }
        out.extend(sums.iter().map(|&s| s.clamp(0, 255) as u8));
    }
    out
}

/// `equalizeHist`: each level maps to its cumulative count above the lowest occupied level, times
/// 255/(N − count of that level) in float32, rounded half to even (OpenCV's `saturate_cast`).
pub fn equalize_hist(img: &[u8]) -> Vec<u8> {
    let mut hist = [0usize; 256];
    img.iter().for_each(|&v| hist[v as usize] += 1);
    let first = hist.iter().position(|&n| n > 0).unwrap_or(0);
    if hist[first] == img.len() {
        return vec![first as u8; img.len()];
    }
    let scale = 255.0f32 / (img.len() - hist[first]) as f32;
    let mut lut = [0u8; 256];
    let mut sum = 0;
    for v in first + 1..256 {
        sum += hist[v];
        lut[v] = (sum as f32 * scale).round_ties_even().clamp(0.0, 255.0) as u8;
    }
    img.iter().map(|&v| lut[v as usize]).collect()
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

/// Keys' cubic weights (A = −0.75, OpenCV's) of the four taps around a fractional offset `x`.
fn cubic_weights(x: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

/// First source index and weights of output `o` of `on` over `n` (half-pixel centres).
fn cubic_taps(n: usize, on: usize, o: usize) -> (isize, [f64; 4]) {
    let f = (o as f64 + 0.5) * n as f64 / on as f64 - 0.5;
    let s = f.floor();
    (s as isize - 1, cubic_weights(f - s))
}

/// `cv2.resize(…, INTER_CUBIC)` of an 8-bit image with `c` interleaved channels as the PyPI wheels
/// compute it, through Intel IPP: separable cubic in floating point, edges replicated, rounded once
/// at the end (half to even). It matches them on all but about 1 in 100,000 values, which differ by
/// one grey level (docs/corruptions.md, frost).
pub fn resize_cubic_u8(img: &[u8], (h, w, c): (usize, usize, usize), (oh, ow): (usize, usize)) -> Vec<u8> {
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let columns: Vec<(isize, [f64; 4])> = (0..ow).map(|x| cubic_taps(w, ow, x)).collect();
    let rows: Vec<Vec<f64>> = (0..h)
        .map(|y| {
            let row = &img[y * w * c..(y + 1) * w * c];
            let mut out = Vec::with_capacity(ow * c);
            for &(sx, a) in &columns {
                for k in 0..c {
                    out.push((0..4).map(|j| row[clamp(sx + j as isize, w) * c + k] as f64 * a[j]).sum());
                }
            }
            out
        })
        .collect();
    let mut out = Vec::with_capacity(oh * ow * c);
    for y in 0..oh {
        let (sy, b) = cubic_taps(h, oh, y);
        let s: [&Vec<f64>; 4] = std::array::from_fn(|j| &rows[clamp(sy + j as isize, h)]);
        out.extend((0..ow * c).map(|x| {
            let v = s[0][x] * b[0] + s[1][x] * b[1] + s[2][x] * b[2] + s[3][x] * b[3];
            v.round_ties_even().clamp(0.0, 255.0) as u8
        }));
    }
    out
}
