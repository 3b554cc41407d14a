//! The deterministic corruptions byte for byte against the reference package `imagecorruptions`
//! 1.1.2 (NumPy 2.4, SciPy 1.17, scikit-image 0.26, OpenCV 5.0), whose outputs
//! scripts/imagecorruptions-fixtures.py wrote into tests/fixtures/imagecorruptions, with the `sized`
//! preset (the reference's parameters).
use corrupt::blurs::{motion_blur_at, motion_kernel};
use corrupt::{rng_for, Corruptor, Image, Preset};

const SHAPES: [(usize, usize); 2] = [(32, 32), (37, 41)];

fn fixture(name: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/imagecorruptions/{name}.raw"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn input(h: usize, w: usize) -> Image {
    Image::new(fixture(&format!("input-{h}x{w}")), h, w, 3).unwrap()
}

/// How many values of `ours` differ from the fixture `name`.
fn differing(ours: &Image, name: &str) -> usize {
    let want = fixture(name);
    assert_eq!(ours.data.len(), want.len(), "{name}: size");
    ours.data.iter().zip(&want).filter(|(a, b)| a != b).count()
}

fn assert_identical(corruption: &str) {
    let corruptor = Corruptor::with_preset(Preset::Sized);
    for (h, w) in SHAPES {
        let img = input(h, w);
        for severity in 1..=5u8 {
            let out = corruptor.apply(&img, corruption, severity, &mut rng_for(0, corruption, severity, 0)).unwrap();
            let name = format!("{corruption}-{h}x{w}-{severity}");
            assert_eq!(differing(&out, &name), 0, "{name}: values differ from imagecorruptions");
        }
    }
}

#[test]
fn gaussian_blur_is_byte_identical_to_the_reference() {
    assert_identical("gaussian_blur");
}

#[test]
fn defocus_blur_is_byte_identical_to_the_reference() {
    assert_identical("defocus_blur");
}

#[test]
fn zoom_blur_is_byte_identical_to_the_reference() {
    assert_identical("zoom_blur");
}

/// Pixelate (Pillow's BOX down, NEAREST up) and JPEG (libjpeg-turbo's lossy stages as Pillow runs
/// them) through the corruption itself, at the reference's five qualities and factors.
#[test]
fn pixelate_and_jpeg_compression_are_byte_identical_to_the_reference() {
    for corruption in ["pixelate", "jpeg_compression"] {
        assert_identical(corruption);
    }
}

#[test]
fn brightness_contrast_and_saturate_are_byte_identical_to_the_reference() {
    for corruption in ["brightness", "contrast", "saturate"] {
        assert_identical(corruption);
    }
}

/// A little-endian float64 fixture.
fn fixture_f64(name: &str) -> Vec<f64> {
    fixture(name).chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect()
}

/// The reference's motion-blur weights, per severity.
fn reference_motion_kernel(severity: usize) -> Vec<f64> {
    fixture_f64(&format!("motion_kernel-{severity}"))
}

const MOTION: [(usize, f64); 5] = [(10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0)];

/// Motion blur's operator (shifts, edge repeats, sums on the byte scale, clip, truncation) at the
/// angles the fixture script fixed (the corruption draws its angle at random), with the reference's
/// weights.
#[test]
fn motion_blur_at_a_given_angle_is_byte_identical_to_the_reference() {
    let angles = [-41.3, -12.0, 0.0, 23.7, 45.0];
    for (h, w) in SHAPES {
        let img = input(h, w);
        for (s, &angle) in angles.iter().enumerate() {
            let name = format!("motion_blur-{h}x{w}-{}", s + 1);
            let out = motion_blur_at(&img, &reference_motion_kernel(s + 1), angle);
            assert_eq!(differing(&out, &name), 0, "{name}");
        }
    }
}

/// Our weights are the reference's expressions on the C library's `exp`; NumPy's vectorised `exp`
/// differs from it in the last bit for some arguments, so a weight may differ by an ulp or two.
#[test]
fn motion_blur_weights_match_the_reference_to_two_ulps() {
    for (s, &(radius, sigma)) in MOTION.iter().enumerate() {
        let ours = motion_kernel(radius, sigma);
        let want = reference_motion_kernel(s + 1);
        assert_eq!(ours.len(), want.len());
        for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
            assert!(a.to_bits().abs_diff(b.to_bits()) <= 2, "severity {} weight {i}: {a:e} against {b:e}", s + 1);
        }
    }
}

/// NumPy's pairwise sum, not a running sum: the 21 unnormalised weights of motion blur at σ = 3 sum
/// to 0x1.220b06efbe408p-1 in NumPy (`np.sum`), one ulp above the running sum.
#[test]
fn numpy_sum_is_numpys_pairwise_sum() {
    let density: Vec<f64> =
        (0..21).map(|i: i32| (-f64::from(i * i) / 18.0).exp() / ((2.0 * std::f64::consts::PI).sqrt() * 3.0)).collect();
    assert_eq!(corrupt::scipy::numpy_sum(&density).to_bits(), 0x3FE2_20B0_6EFB_E408);
    assert_eq!(density.iter().fold(0.0, |s, &v| s + v).to_bits(), 0x3FE2_20B0_6EFB_E407);
    assert_eq!(corrupt::scipy::numpy_sum(&[1.5, 2.0]), 3.5);
}

/// Elastic transform with the reference's noise fields handed in (its NumPy draws replaced by fixed
/// fields in the fixture script): float32 image, fields and result, SciPy's coordinate folding,
/// weights and corner order.
#[test]
fn elastic_transform_is_byte_identical_to_the_reference_given_its_noise() {
    use corrupt::digital::{elastic_from_draws, Elastic};
    for (h, w) in SHAPES {
        let img = input(h, w);
        let (noise_x, noise_y) =
            (fixture_f64(&format!("elastic_noise-{h}x{w}-x")), fixture_f64(&format!("elastic_noise-{h}x{w}-y")));
        for (severity, alpha) in (1..=5).zip([0.05, 0.065, 0.085, 0.1, 0.12]) {
            let p = Elastic {
                alpha: 250.0 * alpha,
                sigma: (0.01 * h as f64, 0.01 * w as f64),
                affine: None,
                noise: 0.005 * h as f64,
            };
            let out = elastic_from_draws(&img, p, None, &noise_x, &noise_y);
            let name = format!("elastic_transform-{h}x{w}-{severity}");
            assert_eq!(differing(&out, &name), 0, "{name}: values differ from imagecorruptions");
        }
    }
}

/// Snow with the reference's layer and angle handed in (its NumPy draws replaced in the fixture
/// script): the whole zoomed layer blurred, then its top-left kept; float32 image and lightening (the
/// picture's random lower half has saturated pixels whose lightened value lands just off the byte).
#[test]
fn snow_is_byte_identical_to_the_reference_given_its_draws() {
    use corrupt::weather::{snow_from_draws, Snow, SnowCrop};
    let params = [
        (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
        (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
        (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
    ];
    let angles = [-131.7, -97.25, -90.0, -63.4, -45.5];
    for (h, w) in SHAPES {
        let img = Image::new(fixture(&format!("input-snow-{h}x{w}")), h, w, 3).unwrap();
        for (severity, ((mean, std, zoom, threshold, radius, sigma, blend), angle)) in
            (1..=5).zip(params.into_iter().zip(angles))
        {
            let p = Snow { mean, std, zoom, threshold, radius, sigma, blend, crop: SnowCrop::TopLeftAfterBlur };
            let layer = fixture_f64(&format!("snow_layer-{h}x{w}-{severity}"));
            let name = format!("snow-{h}x{w}-{severity}");
            assert_eq!(differing(&snow_from_draws(&img, p, &layer, angle), &name), 0, "{name}: values differ");
        }
    }
}

/// The plasma map alone, given the reference's draws, to the bit: its neighbours are summed
/// pairwise, as the reference's rolled arrays are (a running sum differs in the last bit).
#[test]
fn plasma_fractal_equals_the_reference_to_the_bit_given_its_draws() {
    use corrupt::weather::plasma_fractal_with;
    for (size, decay) in [(32, "2.0"), (64, "1.4")] {
        let units = fixture_f64(&format!("plasma_units-{size}-{decay}"));
        let mut draws = units.iter().copied();
        let map = plasma_fractal_with(size, decay.parse().unwrap(), || draws.next().expect("enough draws"));
        assert_eq!(draws.next(), None, "every draw used");
        let want = fixture_f64(&format!("plasma-{size}-{decay}"));
        let differing = map.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differing, 0, "plasma {size} decay {decay}: values differ from imagecorruptions");
    }
}

/// Fog with the reference's uniform draws handed in (the fixture script replaces np.random.uniform
/// by NumPy's formula on fixed draws): the plasma's pairwise neighbour sums, wibbles and
/// normalisation, and ((x + c·p)·max)/(max + c).
#[test]
fn fog_is_byte_identical_to_the_reference_given_its_draws() {
    use corrupt::weather::fog_with;
    let params = [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)];
    for (h, w) in SHAPES {
        let img = input(h, w);
        for (severity, (c, decay)) in (1..=5).zip(params) {
            let units = fixture_f64(&format!("fog_units-{h}x{w}-{severity}"));
            let mut draws = units.iter().copied();
            let out = fog_with(&img, c, decay, || draws.next().expect("enough draws"));
            assert_eq!(draws.next(), None, "every draw used");
            let name = format!("fog-{h}x{w}-{severity}");
            assert_eq!(differing(&out, &name), 0, "{name}: values differ from imagecorruptions");
        }
    }
}

/// Spatter with the reference's blurred layer handed in (the fixture script fixes its normal draws
/// and saves the layer after skimage's Gaussian): water's Canny, float32 distance transform, blurs,
/// equalisation and emboss as OpenCV computes them and the float32 blend; mud's float32 mask and its
/// float32/float64 blend. The picture's random lower half lands the float32 sums near byte edges.
#[test]
fn spatter_is_byte_identical_to_the_reference_given_its_layer() {
    use corrupt::spatter::{spatter_from_layer, Spatter};
    let params = [
        (0.65, 0.3, 4.0, 0.69, 0.6, false),
        (0.65, 0.3, 3.0, 0.68, 0.6, false),
        (0.65, 0.3, 2.0, 0.68, 0.5, false),
        (0.65, 0.3, 1.0, 0.65, 1.5, true),
        (0.67, 0.4, 1.0, 0.65, 1.5, true),
    ];
    for (h, w) in SHAPES {
        let img = Image::new(fixture(&format!("input-snow-{h}x{w}")), h, w, 3).unwrap();
        for (severity, (mean, std, sigma, threshold, intensity, mud)) in (1..=5).zip(params) {
            let p = Spatter { mean, std, sigma, threshold, intensity, mud };
            let layer = fixture_f64(&format!("spatter_layer-{h}x{w}-{severity}"));
            let name = format!("spatter-{h}x{w}-{severity}");
            assert_eq!(differing(&spatter_from_layer(&img, p, &layer), &name), 0, "{name}: values differ");
        }
    }
}

/// A little-endian float32 fixture.
fn fixture_f32(name: &str) -> Vec<f32> {
    fixture(name).chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect()
}

/// Each OpenCV step of spatter's water texture on OpenCV's own previous output (a 64×64 plane), to
/// the bit: Canny, the float32 distance transform (IPP's float32 chamfer sums; OpenCV's fixed point
/// or float64 sums differ), the float32 3×3 mean, equalisation, emboss and the 8-bit 3×3 mean.
#[test]
fn spatter_water_steps_equal_opencv_to_the_bit() {
    use corrupt::opencv::{blur3_f32, blur3_u8, canny, distance_transform, equalize_hist, filter3_u8};
    let size = (64, 64);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let edges: Vec<u8> = canny(&fixture("water_levels"), size, 50.0, 150.0).iter().map(|&e| 255 * e as u8).collect();
    assert_eq!(edges, fixture("water_canny"), "Canny");
    let not_edge: Vec<bool> = fixture("water_canny").iter().map(|&v| v == 0).collect();
    assert_eq!(bits(&distance_transform(&not_edge, size)), bits(&fixture_f32("water_distance")), "distance");
    let truncated: Vec<f32> = fixture_f32("water_distance").iter().map(|d| d.min(20.0)).collect();
    assert_eq!(bits(&blur3_f32(&truncated, size)), bits(&fixture_f32("water_blur_f32")), "float32 blur");
    let bytes: Vec<u8> = fixture_f32("water_blur_f32").iter().map(|&v| v as u8).collect();
    assert_eq!(equalize_hist(&bytes), fixture("water_equalised"), "equalisation");
    let emboss = [-2, -1, 0, -1, 1, 1, 0, 1, 2];
    assert_eq!(filter3_u8(&fixture("water_equalised"), size, &emboss), fixture("water_emboss"), "emboss");
    assert_eq!(blur3_u8(&fixture("water_emboss"), size), fixture("water_blur_u8"), "8-bit blur");
}

/// Glass blur with the reference's offsets handed in (the fixture script fixes np.random.randint):
/// blur, truncate, the pixel moves (each pixel takes the value at its offset, which keeps its own,
/// as the reference's swap of two RGB views does) and blur again.
#[test]
fn glass_blur_is_byte_identical_to_the_reference_given_its_offsets() {
    use corrupt::blurs::glass_blur_with;
    let params = [(0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2)];
    for (h, w) in SHAPES {
        let img = input(h, w);
        for (severity, (sigma, delta, iterations)) in (1..=5).zip(params) {
            let offsets = fixture(&format!("glass_offsets-{h}x{w}-{severity}"));
            let mut draws = offsets.iter().map(|&b| b as i8 as isize);
            let out = glass_blur_with(&img, sigma, delta, iterations, || draws.next().expect("enough offsets"));
            assert_eq!(draws.next(), None, "every offset used");
            let name = format!("glass_blur-{h}x{w}-{severity}");
            assert_eq!(differing(&out, &name), 0, "{name}: values differ from imagecorruptions");
        }
    }
}
