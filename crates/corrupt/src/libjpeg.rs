//! A JPEG round trip as libjpeg-turbo computes it with PIL's settings (`save(..., "JPEG",
//! quality=q)`, then `Image.open`): libjpeg's quality-scaled Annex K tables (baseline), RGB→YCbCr
//! in its fixed point, 4:2:0 chroma averaged with its alternating bias, the integer LL&M DCT
//! (`JDCT_ISLOW`) with its reciprocal quantisation, the integer inverse DCT, the "fancy" triangle
//! upsampling of chroma and its fixed-point YCbCr→RGB. Huffman coding is lossless and left out, so
//! the bytes are those of the encoder and decoder without the file in between.

/// libjpeg's fixed-point fraction bits for colour conversion, and one half in them.
const SCALEBITS: i32 = 16;
const ONE_HALF: i32 = 1 << (SCALEBITS - 1);
/// Fixed-point bits of the DCT constants and the extra bits kept between the two passes.
const CONST_BITS: i32 = 13;
const PASS1_BITS: i32 = 2;

/// The Annex K luminance quantisation table in natural order.
const LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
    87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];
/// The Annex K chrominance quantisation table in natural order.
const CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99,
];

/// `x` in fixed point with `bits` fraction bits, rounded (libjpeg's `FIX`).
const fn fix(x: f64, bits: i32) -> i32 {
    (x * (1i64 << bits) as f64 + 0.5) as i32
}

// The LL&M DCT constants in 13-bit fixed point (`FIX_0_298631336` …).
const F0_298: i32 = fix(0.298631336, CONST_BITS);
const F0_390: i32 = fix(0.390180644, CONST_BITS);
const F0_541: i32 = fix(0.541196100, CONST_BITS);
const F0_765: i32 = fix(0.765366865, CONST_BITS);
const F0_899: i32 = fix(0.899976223, CONST_BITS);
const F1_175: i32 = fix(1.175875602, CONST_BITS);
const F1_501: i32 = fix(1.501321110, CONST_BITS);
const F1_847: i32 = fix(1.847759065, CONST_BITS);
const F1_961: i32 = fix(1.961570560, CONST_BITS);
const F2_053: i32 = fix(2.053119869, CONST_BITS);
const F2_562: i32 = fix(2.562915447, CONST_BITS);
const F3_072: i32 = fix(3.072711026, CONST_BITS);

// The colour conversions' weights in 16-bit fixed point (`rgb_ycc_start`, `build_ycc_rgb_table`).
const Y_R: i32 = fix(0.299, SCALEBITS);
const Y_G: i32 = fix(0.587, SCALEBITS);
const Y_B: i32 = fix(0.114, SCALEBITS);
const CB_R: i32 = fix(0.16874, SCALEBITS);
const CB_G: i32 = fix(0.33126, SCALEBITS);
const HALF_FIX: i32 = fix(0.5, SCALEBITS);
const CR_G: i32 = fix(0.41869, SCALEBITS);
const CR_B: i32 = fix(0.08131, SCALEBITS);
const R_CR: i32 = fix(1.402, SCALEBITS);
const G_CB: i32 = fix(0.34414, SCALEBITS);
const G_CR: i32 = fix(0.71414, SCALEBITS);
const B_CB: i32 = fix(1.772, SCALEBITS);

/// One 8×8 table scaled to `quality` (`jpeg_quality_scaling`, then `jpeg_add_quant_table` with
/// `force_baseline`: each entry (base·scale + 50)/100, kept within 1–255).
fn scaled_table(base: &[u16; 64], quality: u8) -> [u16; 64] {
    let q = quality.clamp(1, 100) as u32;
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    base.map(|b| ((b as u32 * scale + 50) / 100).clamp(1, 255) as u16)
}

/// libjpeg-turbo's quantiser for one table entry, (reciprocal, correction, shift): division by 8·q
/// with rounding, done as ((|x| + correction)·reciprocal) >> shift (`compute_reciprocal`).
fn divisor(q: u16) -> [i32; 3] {
    let d = (q as u32) << 3;
    let mut shift = 16 + (31 - d.leading_zeros());
    let (mut reciprocal, rest) = ((1u32 << shift) / d, (1u32 << shift) % d);
    let mut correction = d / 2;
    if rest == 0 {
        reciprocal >>= 1;
        shift -= 1;
    } else if rest <= d / 2 {
        correction += 1;
    } else {
        reciprocal += 1;
    }
    [reciprocal, correction, shift].map(|v| v as i32)
}

/// A table's [`divisor`]s row by row in lanes, and its steps q for the dequantisation.
struct Quantiser {
    reciprocal: Block,
    correction: Block,
    shift: Block,
    step: Block,
}

impl Quantiser {
    fn new(q: &[u16; 64]) -> Quantiser {
        let d = q.map(divisor);
        let rows = |f: &dyn Fn(usize) -> i32| std::array::from_fn(|r| std::array::from_fn(|c| f(r * 8 + c)));
        Quantiser {
            reciprocal: rows(&|k| d[k][0]),
            correction: rows(&|k| d[k][1]),
            shift: rows(&|k| d[k][2]),
            step: rows(&|k| q[k] as i32),
        }
    }

    /// Row `r` of a block of DCT outputs quantised, ((|x| + correction)·reciprocal) >> shift with x's
    /// sign on every lane (the product stays below 2³¹ for 8-bit samples, so i32 lanes hold it), and
    /// dequantised, times q.
    #[inline(always)]
    fn round_trip(&self, r: usize, x: &mut [i32; 8]) {
        let (correction, reciprocal, shift, step) =
            (&self.correction[r], &self.reciprocal[r], &self.shift[r], &self.step[r]);
        for c in 0..8 {
            let (v, sign) = (x[c], x[c] >> 31);
            let magnitude = ((v.abs() + correction[c]) * reciprocal[c]) >> shift[c];
            x[c] = ((magnitude ^ sign) - sign) * step[c];
        }
    }
}

/// (x + half) >> n, libjpeg's `DESCALE` (an arithmetic shift).
#[inline(always)]
fn descale(x: i32, n: i32) -> i32 {
    (x + (1 << (n - 1))) >> n
}

/// The odd half of the LL&M butterfly that both DCTs' passes share (`jfdctint.c`, `jidctint.c`):
/// four outputs from four inputs.
#[inline(always)]
fn odd_part(t4: i32, t5: i32, t6: i32, t7: i32) -> (i32, i32, i32, i32) {
    let (z1, z2, z3, z4) = (t4 + t7, t5 + t6, t4 + t6, t5 + t7);
    let z5 = (z3 + z4) * F1_175;
    let (t4, t5, t6, t7) = (t4 * F0_298, t5 * F2_053, t6 * F3_072, t7 * F1_501);
    let (z1, z2) = (z1 * -F0_899, z2 * -F2_562);
    let z3 = z3 * -F1_961 + z5;
    let z4 = z4 * -F0_390 + z5;
    (t4 + z1 + z3, t5 + z2 + z4, t6 + z2 + z3, t7 + z1 + z4)
}

/// An 8×8 block as 8 rows of 8 values.
type Block = [[i32; 8]; 8];

/// One forward pass of `jpeg_fdct_islow` down every column of `b` (the 8 columns side by side, one
/// vector lane each): outputs 0 and 4 as `even` computes them, the others descaled by `shift`.
#[inline(always)]
fn forward_columns(b: &Block, shift: i32, even: impl Fn(i32) -> i32) -> Block {
    let mut o = [[0; 8]; 8];
    for c in 0..8 {
        let v = |k: usize| b[k][c];
        let (t0, t7, t1, t6) = (v(0) + v(7), v(0) - v(7), v(1) + v(6), v(1) - v(6));
        let (t2, t5, t3, t4) = (v(2) + v(5), v(2) - v(5), v(3) + v(4), v(3) - v(4));
        let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
        let z1 = (t12 + t13) * F0_541;
        let (o7, o5, o3, o1) = odd_part(t4, t5, t6, t7);
        o[0][c] = even(t10 + t11);
        o[1][c] = descale(o1, shift);
        o[2][c] = descale(z1 + t13 * F0_765, shift);
        o[3][c] = descale(o3, shift);
        o[4][c] = even(t10 - t11);
        o[5][c] = descale(o5, shift);
        o[6][c] = descale(z1 + t12 * -F1_847, shift);
        o[7][c] = descale(o7, shift);
    }
    o
}

/// One inverse pass of `jpeg_idct_islow` down every column of `b`, each output descaled by `shift`
/// and mapped by `out`.
#[inline(always)]
fn inverse_columns(b: &Block, shift: i32, out: impl Fn(i32) -> i32) -> Block {
    let mut o = [[0; 8]; 8];
    for c in 0..8 {
        let v = |k: usize| b[k][c];
        let z1 = (v(2) + v(6)) * F0_541;
        let t2 = z1 + v(6) * -F1_847;
        let t3 = z1 + v(2) * F0_765;
        let (t0, t1) = ((v(0) + v(4)) << CONST_BITS, (v(0) - v(4)) << CONST_BITS);
        let (t10, t13, t11, t12) = (t0 + t3, t0 - t3, t1 + t2, t1 - t2);
        let (o0, o1, o2, o3) = odd_part(v(7), v(5), v(3), v(1));
        let result = [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3];
        for k in 0..8 {
            o[k][c] = out(descale(result[k], shift));
        }
    }
    o
}

/// The block transposed.
#[inline(always)]
fn transpose(b: &Block) -> Block {
    let mut t = [[0; 8]; 8];
    for (r, row) in b.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c][r] = v;
        }
    }
    t
}

/// `jpeg_fdct_islow` on a level-shifted block: rows (as the columns of the transposed block), then
/// columns; the result is 8 times the orthonormal DCT.
#[inline(always)]
fn forward_dct(block: &Block) -> Block {
    let rows = transpose(&forward_columns(&transpose(block), CONST_BITS - PASS1_BITS, |x| x << PASS1_BITS));
    forward_columns(&rows, CONST_BITS + PASS1_BITS, |x| descale(x, PASS1_BITS))
}

/// `jpeg_idct_islow` on dequantised coefficients: columns, then rows, then to a byte through libjpeg's
/// range-limit table.
#[inline(always)]
fn inverse_dct(block: &Block) -> Block {
    let work = transpose(&inverse_columns(block, CONST_BITS - PASS1_BITS, |x| x));
    transpose(&inverse_columns(&work, CONST_BITS + PASS1_BITS + 3, range_limit))
}

/// libjpeg's post-IDCT range limit: `x & 1023` looked up in a table that gives x + 128 clamped to
/// 0–255 for x in −512..511 and wraps beyond (`prepare_range_limit_table`).
#[inline(always)]
fn range_limit(x: i32) -> i32 {
    (((x + 512) & 1023) - 512 + 128).clamp(0, 255)
}

/// Every 8×8 block of a plane whose sides are multiples of 8 through DCT, quantisation,
/// dequantisation and inverse DCT, with the table `q` (AVX-512 or AVX2 where the CPU has it: integer
/// arithmetic, the same values).
fn lossy_blocks(plane: &mut [u8], width: usize, q: &[u16; 64]) {
    crate::simd::dispatch!(lossy_blocks_body(plane, width, q))
}

/// [`lossy_blocks`]' loop.
#[inline(always)]
fn lossy_blocks_body(plane: &mut [u8], width: usize, q: &[u16; 64]) {
    let quantiser = Quantiser::new(q);
    for band in plane.chunks_exact_mut(8 * width) {
        for bx in (0..width).step_by(8) {
            let mut block = [[0; 8]; 8];
            for (r, lanes) in block.iter_mut().enumerate() {
                let row = &band[r * width + bx..][..8];
                (0..8).for_each(|c| lanes[c] = row[c] as i32 - 128);
            }
            let mut dequantised = forward_dct(&block);
            for (r, lanes) in dequantised.iter_mut().enumerate() {
                quantiser.round_trip(r, lanes);
            }
            for (r, samples) in inverse_dct(&dequantised).iter().enumerate() {
                band[r * width + bx..][..8].iter_mut().zip(samples).for_each(|(d, &s)| *d = s as u8);
            }
        }
    }
}

/// `n` rounded up to a multiple of `m`.
fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

/// An h×w plane extended to `ph`×`pw` by repeating its last column and last row.
fn replicate_edges(plane: &[u8], (h, w): (usize, usize), (ph, pw): (usize, usize)) -> Vec<u8> {
    let mut out = Vec::with_capacity(ph * pw);
    for y in 0..ph {
        let row = &plane[y.min(h - 1) * w..][..w];
        out.extend_from_slice(row);
        out.extend(std::iter::repeat_n(row[w - 1], pw - w));
    }
    out
}

/// A full-resolution component (h×w) through the encoder and decoder at full resolution.
fn round_trip_full(plane: &[u8], (h, w): (usize, usize), q: &[u16; 64]) -> Vec<u8> {
    let (ph, pw) = (round_up(h, 8), round_up(w, 8));
    let mut padded = replicate_edges(plane, (h, w), (ph, pw));
    lossy_blocks(&mut padded, pw, q);
    top_left(&padded, pw, (h, w))
}

/// The top-left h×w corner of a plane `pw` wide.
fn top_left(plane: &[u8], pw: usize, (h, w): (usize, usize)) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * w);
    plane.chunks_exact(pw).take(h).for_each(|row| out.extend_from_slice(&row[..w]));
    out
}

/// A chroma component (h×w) through the encoder's 2×2 averaging (`h2v2_downsample`: bias 1, 2, 1, 2…
/// along each row; the image's last column and row repeated first, the averaged plane's last row
/// after), the blocks, and the decoder's upsampling back to h×w.
fn round_trip_halved(plane: &[u8], (h, w): (usize, usize), q: &[u16; 64]) -> Vec<u8> {
    let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
    let (ph, pw) = (round_up(ch, 8), round_up(cw, 8));
    let full = replicate_edges(plane, (h, w), (2 * ch, 2 * pw));
    let mut small = crate::simd::dispatch!(downsample(&full, (ch, pw), ph));
    lossy_blocks(&mut small, pw, q);
    upsample(&top_left(&small, pw, (ch, cw)), (ch, cw), (h, w))
}

/// `h2v2_downsample` of a plane 2·ch × 2·pw: each 2×2 sum plus 1, 2, 1, 2… along the row, over 4;
/// rows from ch to `ph` repeat the last one.
#[inline(always)]
fn downsample(full: &[u8], (ch, pw): (usize, usize), ph: usize) -> Vec<u8> {
    let mut small = vec![0u8; ph * pw];
    for (y, out) in small.chunks_exact_mut(pw).enumerate() {
        let pair = &full[2 * y.min(ch - 1) * 2 * pw..][..4 * pw];
        let (r0, r1) = pair.split_at(2 * pw);
        for (x, o) in out.iter_mut().enumerate() {
            let sum = r0[2 * x] as u32 + r0[2 * x + 1] as u32 + r1[2 * x] as u32 + r1[2 * x + 1] as u32;
            *o = ((sum + 1 + (x as u32 & 1)) >> 2) as u8;
        }
    }
    small
}

/// The decoder's chroma upsampling to h×w: `h2v2_fancy_upsample` (9/16, 3/16, 3/16, 1/16 of the
/// nearest samples, the first and last rows and columns repeated, biases 8 and 7 alternating)
/// where the chroma plane is wider than 2 samples, else each sample repeated 2×2.
fn upsample(small: &[u8], (ch, cw): (usize, usize), (h, w): (usize, usize)) -> Vec<u8> {
    crate::simd::dispatch!(upsample_body(small, (ch, cw), (h, w)))
}

/// [`upsample`]'s loop.
#[inline(always)]
fn upsample_body(small: &[u8], (ch, cw): (usize, usize), (h, w): (usize, usize)) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * w);
    let row = |y: isize| &small[y.clamp(0, ch as isize - 1) as usize * cw..][..cw];
    let (mut sums, mut line) = (vec![0i32; cw], vec![0u8; 2 * cw]);
    for y in 0..h {
        let near = (y / 2) as isize;
        let (a, b) = (row(near), row(if y % 2 == 0 { near - 1 } else { near + 1 }));
        if cw <= 2 {
            out.extend((0..w).map(|x| a[x / 2]));
            continue;
        }
        sums.iter_mut().zip(a.iter().zip(b)).for_each(|(s, (&a, &b))| *s = 3 * a as i32 + b as i32);
        line[0] = ((sums[0] * 4 + 8) >> 4) as u8;
        line[2 * cw - 1] = ((sums[cw - 1] * 4 + 7) >> 4) as u8;
        for i in 1..cw {
            // The pair between samples i − 1 and i: the right half of i − 1, the left half of i.
            line[2 * i - 1] = ((sums[i - 1] * 3 + sums[i] + 7) >> 4) as u8;
            line[2 * i] = ((sums[i] * 3 + sums[i - 1] + 8) >> 4) as u8;
        }
        out.extend_from_slice(&line[..w]);
    }
    out
}

/// RGB → Y, Cb, Cr planes in libjpeg's fixed point (`rgb_ycc_convert`; Cb and Cr round with
/// ½ − ε so they never exceed 255).
fn rgb_to_ycc(rgb: &[u8]) -> [Vec<u8>; 3] {
    crate::simd::dispatch!(rgb_to_ycc_body(rgb))
}

/// [`rgb_to_ycc`]'s loop.
#[inline(always)]
fn rgb_to_ycc_body(rgb: &[u8]) -> [Vec<u8>; 3] {
    let n = rgb.len() / 3;
    let (mut y, mut cb, mut cr) = (vec![0u8; n], vec![0u8; n], vec![0u8; n]);
    let offset = (128 << SCALEBITS) + ONE_HALF - 1;
    for (((p, y), cb), cr) in rgb.chunks_exact(3).zip(&mut y).zip(&mut cb).zip(&mut cr) {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        *y = ((Y_R * r + Y_G * g + Y_B * b + ONE_HALF) >> SCALEBITS) as u8;
        *cb = ((-CB_R * r - CB_G * g + HALF_FIX * b + offset) >> SCALEBITS) as u8;
        *cr = ((HALF_FIX * r - CR_G * g - CR_B * b + offset) >> SCALEBITS) as u8;
    }
    [y, cb, cr]
}

/// Y, Cb, Cr → RGB in libjpeg's fixed point (`ycc_rgb_convert`), clamped to bytes.
fn ycc_to_rgb(planes: [Vec<u8>; 3]) -> Vec<u8> {
    crate::simd::dispatch!(ycc_to_rgb_body(planes))
}

/// [`ycc_to_rgb`]'s loop.
#[inline(always)]
fn ycc_to_rgb_body([y, cb, cr]: [Vec<u8>; 3]) -> Vec<u8> {
    let mut rgb = vec![0u8; 3 * y.len()];
    for (((out, &y), &cb), &cr) in rgb.chunks_exact_mut(3).zip(&y).zip(&cb).zip(&cr) {
        let (y, cb, cr) = (y as i32, cb as i32 - 128, cr as i32 - 128);
        let red = (R_CR * cr + ONE_HALF) >> SCALEBITS;
        let green = (-G_CB * cb + ONE_HALF - G_CR * cr) >> SCALEBITS;
        let blue = (B_CB * cb + ONE_HALF) >> SCALEBITS;
        out[0] = (y + red).clamp(0, 255) as u8;
        out[1] = (y + green).clamp(0, 255) as u8;
        out[2] = (y + blue).clamp(0, 255) as u8;
    }
    rgb
}

/// The round trip of an interleaved h×w image with 1 (grayscale JPEG) or 3 channels (YCbCr 4:2:0)
/// at `quality` (1–100).
pub fn round_trip(data: &[u8], (h, w, c): (usize, usize, usize), quality: u8) -> Vec<u8> {
    let (luma, chroma) = (scaled_table(&LUMA, quality), scaled_table(&CHROMA, quality));
    if c == 1 {
        return round_trip_full(data, (h, w), &luma);
    }
    let [y, cb, cr] = rgb_to_ycc(data);
    ycc_to_rgb([
        round_trip_full(&y, (h, w), &luma),
        round_trip_halved(&cb, (h, w), &chroma),
        round_trip_halved(&cr, (h, w), &chroma),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_limit_is_libjpegs_table() {
        // The table as `prepare_range_limit_table` lays it out from the post-IDCT start: x + 128 up
        // to 127, 255 up to 511, 0 from 512 to 895 (wrapped negatives), then x − 896 + 0 … 127.
        let table = |i: i32| match i {
            0..=127 => i + 128,
            128..=511 => 255,
            512..=895 => 0,
            _ => i - 896,
        };
        for x in -3000..3000 {
            assert_eq!(range_limit(x), table(x & 1023), "x = {x}");
        }
    }

    #[test]
    fn reciprocal_quantisation_is_rounded_division() {
        // libjpeg-turbo's reciprocal equals the classic (|x| + d/2) / d with the sign restored, for
        // every baseline table entry and every value the DCT of 8-bit samples can give.
        for q in 1..=255u16 {
            let (quantiser, d) = (Quantiser::new(&[q; 64]), (q as i32) << 3);
            for x in -8192..=8192i32 {
                let classic = (x.abs() + d / 2) / d * x.signum();
                let mut row = [x; 8];
                quantiser.round_trip(0, &mut row);
                assert_eq!(row[0], classic * q as i32, "q = {q}, x = {x}");
            }
        }
    }
}
