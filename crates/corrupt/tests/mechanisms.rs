//! The building blocks of blur, weather, digital and spatter corruptions against their definitions,
//! and the preset and group selection.
use corrupt::{
    blurs, digital, frost, geometry, opencv, pillow, rng_for, select, spatter, weather, Corruptor, Image, Preset,
};

fn constant(h: usize, w: usize, c: usize, v: u8) -> Image {
    Image::new(vec![v; h * w * c], h, w, c).unwrap()
}

#[test]
fn zoom_factors_are_numpy_arange() {
    // np.arange(1, e, step) lengths, including its floating-point end effects (1.06 is included).
    let lens: Vec<usize> =
        [(1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01), (1.21, 0.02), (1.31, 0.03)]
            .iter()
            .map(|&(e, s)| blurs::zoom_factors(e, s).len())
            .collect();
    assert_eq!(lens, vec![7, 12, 16, 21, 26, 11, 11]);
}

#[test]
fn clipped_zoom_by_one_is_identity_and_zoom_maps_corners_to_corners() {
    let plane: Vec<f64> = (0..36).map(|i| i as f64).collect();
    assert_eq!(geometry::clipped_zoom(&plane, (6, 6, 1), 1.0), plane);
    let (z, h, w) = geometry::zoom_linear(&[0.0, 1.0, 2.0, 3.0], (2, 2), 2.0);
    assert_eq!((h, w), (4, 4));
    assert_eq!((z[0], z[3], z[12], z[15]), (0.0, 1.0, 2.0, 3.0));
    assert!((z[1] - 1.0 / 3.0).abs() < 1e-12);
    // Zooming in magnifies the centre: a centred 2×2 bright square grows.
    let mut sq = vec![0.0; 64];
    for i in [27, 28, 35, 36] {
        sq[i] = 1.0;
    }
    let big = geometry::clipped_zoom(&sq, (8, 8, 1), 2.0);
    assert!(big.iter().filter(|&&v| v > 0.5).count() > 4);
}

#[test]
fn motion_blur_streaks_along_the_angle_with_half_gaussian_weights() {
    let k = blurs::motion_kernel(3, 1.0);
    assert_eq!(k.len(), 7);
    assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12 && k.windows(2).all(|p| p[0] > p[1]));
    // Angle 0: output x reads x + i, so an impulse at column 8 spreads to columns 8, 7, 6, … .
    let mut plane = vec![0.0; 16 * 16];
    plane[8 * 16 + 8] = 1.0;
    let out = blurs::motion_blur_values(&plane, (16, 16, 1), &k, 0.0);
    for (i, kv) in k.iter().enumerate() {
        assert!((out[8 * 16 + 8 - i] - kv).abs() < 1e-12, "tap {i}");
    }
    assert_eq!(out[8 * 16 + 9], 0.0);
    assert_eq!(out[7 * 16 + 8], 0.0);
}

#[test]
fn plasma_fractal_spans_zero_to_one_and_fog_follows_its_formula() {
    let p = weather::plasma_fractal(32, 2.0, &mut rng_for(1, "fog", 1, 0));
    assert_eq!(p.len(), 32 * 32);
    let (min, max) = p.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((min, max), (0.0, 1.0));
    // Fog at CIFAR severity 1 (c = 0.2, decay 3) on a 32×32 image: (x + c·plasma)·max/(max + c), the
    // plasma drawn from the same uniform draws.
    let draws = || {
        let mut k = 0u32;
        move || {
            k += 1;
            (k.wrapping_mul(2_654_435_761) >> 8) as f64 / (1u32 << 24) as f64
        }
    };
    let img = Image::new((0..32 * 32 * 3).map(|i| (i % 200) as u8).collect(), 32, 32, 3).unwrap();
    let out = weather::fog_with(&img, 0.2, 3.0, draws());
    let plasma = weather::plasma_fractal_with(32, 3.0, draws());
    let m = 199.0 / 255.0;
    for i in [0, 500, 3071] {
        let expect = ((img.data[i] as f64 / 255.0 + 0.2 * plasma[i / 3]) * m / (m + 0.2)).clamp(0.0, 1.0);
        assert_eq!(out.data[i], (expect * 255.0) as u8, "pixel value {i}");
    }
}

#[test]
fn glass_blur_at_severity_one_only_copies_pixels_locally() {
    // CIFAR severity 1 blurs with σ = 0.05, whose kernel is a single tap: only the moves remain. With
    // δ = 1 each pixel, visited from the bottom right, takes the value at an offset in {−1, 0}², still
    // unvisited: its own, or its upper, left or upper-left neighbour's, which keeps its value (the
    // reference's swap of two views is a copy), so the pixels are not a permutation of the input's.
    let img = Image::new((0..32 * 32).map(|i| (i % 256) as u8).collect(), 32, 32, 1).unwrap();
    let out = Corruptor::with_preset(Preset::Cifar).apply(&img, "glass_blur", 1, &mut rng_for(0, "g", 1, 0)).unwrap();
    let same = img.from_unit(&img.to_unit());
    let at = |y: usize, x: usize| same.data[y * 32 + x];
    for (y, x) in (1..32).flat_map(|y| (1..32).map(move |x| (y, x))) {
        let v = out.data[y * 32 + x];
        assert!([at(y, x), at(y - 1, x), at(y, x - 1), at(y - 1, x - 1)].contains(&v), "pixel ({y}, {x})");
    }
    let (mut a, mut b) = (same.data.clone(), out.data.clone());
    a.sort();
    b.sort();
    assert_ne!(a, b, "copies, not a permutation");
    // Moves start at row and column δ+1 = 2 and reach back by at most δ: row 0 and column 0 never move.
    assert_eq!(&out.data[..32], &same.data[..32]);
    assert!((0..32).all(|y| out.data[y * 32] == same.data[y * 32]));
}

#[test]
fn snow_lightens_and_frost_blends_in_its_texture() {
    let img = constant(32, 32, 3, 60);
    let mean = |i: &Image| i.data.iter().map(|&v| v as f64).sum::<f64>() / i.data.len() as f64;
    let snowy = Corruptor::with_preset(Preset::Cifar).apply(&img, "snow", 5, &mut rng_for(0, "snow", 5, 0)).unwrap();
    assert!(mean(&snowy) > 70.0, "{}", mean(&snowy));

    let t = frost::procedural_texture(96, 0);
    assert_eq!(t, frost::procedural_texture(96, 0));
    let channel_mean = |k: usize| t.data.iter().skip(k).step_by(3).map(|&v| v as f64).sum::<f64>();
    assert!(channel_mean(2) >= channel_mean(1) && channel_mean(1) >= channel_mean(0), "blue-white tint");
    // A single constant texture: frost = clip(a·x + b·texel) exactly (CIFAR severity 5: a = 0.75, b = 0.45).
    let flat = vec![constant(40, 40, 3, 200)];
    let out = frost::frost(&img, 0.75, 0.45, &flat, &mut rng_for(0, "frost", 5, 0));
    assert!(out.data.iter().all(|&v| v == (0.75 * 60.0 + 0.45 * 200.0) as u8));
}

#[test]
fn frost_textures_from_a_directory_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = frost::FrostSource::from_dir(dir.path()).unwrap_err().to_string();
    assert!(e.ends_with("holds no .png or .jpg frost textures (expected e.g. frost1.png … frost6.jpg)"), "{e}");
    image::RgbImage::from_pixel(300, 300, image::Rgb([100, 150, 250])).save(dir.path().join("frost1.png")).unwrap();
    let source = frost::FrostSource::from_dir(dir.path()).unwrap();
    let c = Corruptor { preset: Some(Preset::Cifar), frost: source };
    // ×0.2 gives a 60×60 texture, still constant: severity 1 is x + 0.2·texel.
    let out = c.apply(&constant(32, 32, 3, 10), "frost", 1, &mut rng_for(0, "frost", 1, 0)).unwrap();
    assert_eq!(&out.data[..3], &[30, 40, 60]);
    std::fs::write(dir.path().join("frost2.jpg"), b"not a jpeg").unwrap();
    let e = frost::FrostSource::from_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("frost2.jpg: not a readable image"), "{e}");
}

#[test]
fn affine_and_displacement_warps() {
    let m = geometry::affine_from_points([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [[2.0, 3.0], [4.0, 3.0], [2.0, 6.0]]);
    assert_eq!(m, [[2.0, 0.0, 2.0], [0.0, 3.0, 3.0]]);
    let plane: Vec<f64> = (0..25).map(|i| i as f64).collect();
    let id = geometry::warp_affine_reflect101(&plane, (5, 5, 1), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    assert_eq!(id, plane);
    // A shift right by one: column 0 reads column −1, reflected (101) to column 1.
    let shifted = geometry::warp_affine_reflect101(&plane, (5, 5, 1), [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]);
    assert_eq!(&shifted[..5], &[1.0, 0.0, 1.0, 2.0, 3.0]);
    let zero = vec![0.0; 25];
    assert_eq!(geometry::map_coordinates_reflect(&plane, (5, 5, 1), &zero, &zero), plane);
    // Half a pixel left of column 0 reflects onto column 0 itself (SciPy "reflect").
    let half = vec![-0.5; 25];
    assert_eq!(geometry::map_coordinates_reflect(&plane, (5, 5, 1), &zero, &half)[5], 5.0);
    // SciPy folds a coordinate beyond the border back about −½ and n − ½ (whole periods of 2n first).
    for (v, folded) in [(-0.3, -0.7), (4.3, 4.3), (5.2, 3.8), (-5.5, 4.5), (-25.0, 4.0), (23.0, 3.0), (2.5, 2.5)] {
        assert!((geometry::scipy_reflect_coordinate(v, 5) - folded).abs() < 1e-12, "{v} -> {folded}");
    }
    assert_eq!(geometry::scipy_reflect_coordinate(-1e-16, 5), 1e-15 - 1.0);
    // Interleaved channels are warped as if each were alone.
    let rgb: Vec<f64> = plane.iter().flat_map(|&v| [v, 24.0 - v, v * v]).collect();
    let m = [[0.9, 0.2, 0.7], [-0.1, 1.1, -0.4]];
    let (dy, dx): (Vec<f64>, Vec<f64>) = (0..25).map(|i| ((i % 7) as f64 * 0.3 - 1.0, (i % 4) as f64 * -0.6)).unzip();
    let warped = geometry::warp_affine_reflect101(&rgb, (5, 5, 3), m);
    let displaced = geometry::map_coordinates_reflect(&rgb, (5, 5, 3), &dy, &dx);
    for ch in 0..3 {
        let alone: Vec<f64> = rgb.iter().skip(ch).step_by(3).copied().collect();
        let channel = |v: &[f64]| v.iter().skip(ch).step_by(3).copied().collect::<Vec<f64>>();
        assert_eq!(channel(&warped), geometry::warp_affine_reflect101(&alone, (5, 5, 1), m));
        assert_eq!(channel(&displaced), geometry::map_coordinates_reflect(&alone, (5, 5, 1), &dy, &dx));
    }
}

#[test]
fn elastic_without_displacement_is_the_affine_warp_only() {
    let img = Image::new((0..32 * 32 * 3).map(|i| (i * 7 % 256) as u8).collect(), 32, 32, 3).unwrap();
    let p = digital::Elastic { alpha: 0.0, sigma: (0.0, 0.0), affine: None, noise: 1.0 };
    assert_eq!(digital::elastic(&img, p, &mut rng_for(0, "e", 1, 0)), img.from_unit(&img.to_unit()));
    let moved =
        digital::elastic(&img, digital::Elastic { alpha: 3.2, sigma: (1.0, 1.0), ..p }, &mut rng_for(0, "e", 1, 0));
    assert_ne!(moved, img);
    // With an affine step and no displacement, the warped floats are truncated to u8 once, at the end.
    let affine = digital::Elastic { affine: Some(2.0), ..p };
    let mut rng = rng_for(0, "e", 1, 0);
    let warped = digital::elastic(&img, affine, &mut rng.clone());
    let (cy, cx, s) = (16.0, 16.0, 10.0);
    let from = [[cy + s, cx + s], [cy + s, cx - s], [cy - s, cx - s]];
    let mut to = from;
    to.iter_mut().flatten().for_each(|v| *v += rand::Rng::gen_range(&mut rng, -2.0..2.0));
    let m = geometry::affine_from_points(from, to);
    assert_eq!(warped, img.from_unit(&geometry::warp_affine_reflect101(&img.to_unit(), (32, 32, 3), m)));
}

#[test]
fn jpeg_artefacts_grow_as_quality_falls() {
    let img = Image::new((0..64 * 64 * 3).map(|i| ((i * 37) % 256) as u8).collect(), 64, 64, 3).unwrap();
    let err = |q| {
        let out = digital::jpeg(&img, q).unwrap();
        out.data.iter().zip(&img.data).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum::<f64>()
    };
    assert!(err(10) > err(50) && err(50) > err(95));
    let gray = Image::new(vec![128; 16 * 16], 16, 16, 1).unwrap();
    let out = digital::jpeg(&gray, 40).unwrap();
    assert_eq!(out.channels, 1);
    assert!(out.data.iter().all(|&v| (127..=129).contains(&v)));
}

#[test]
fn canny_distance_and_histogram_steps_of_spatter() {
    // A vertical step edge: Canny marks one column next to it, nothing elsewhere.
    let img: Vec<u8> = (0..16 * 16).map(|i| if i % 16 < 8 { 0 } else { 200 }).collect();
    let edges = opencv::canny(&img, (16, 16), 50.0, 150.0);
    let cols: std::collections::BTreeSet<usize> = (0..256).filter(|&i| edges[i]).map(|i| i % 16).collect();
    assert_eq!(cols.len(), 1, "{cols:?}");
    assert!(cols.contains(&7) || cols.contains(&8));
    assert!(opencv::canny(&[90; 64], (8, 8), 50.0, 150.0).iter().all(|&e| !e));
    // Chamfer distances from one zero pixel: 1 straight, 1.4 diagonal, 2.1969 a knight's move away.
    let mut fg = vec![true; 49];
    fg[24] = false;
    let d = opencv::distance_transform(&fg, (7, 7));
    assert_eq!((d[24], d[25], d[32], d[33], d[26]), (0.0, 1.0, 1.4, 2.1969, 2.0));
    assert_eq!(opencv::equalize_hist(&[10, 10, 20, 30]), vec![0, 0, 128, 255]);
    assert_eq!(opencv::equalize_hist(&[7, 7]), vec![7, 7]);
}

#[test]
fn water_spatter_without_drops_leaves_the_image_alone() {
    // No layer value reaches the threshold: the reference divides by a zero maximum and returns black.
    let img = constant(40, 40, 3, 200);
    let p = spatter::Spatter { mean: 0.65, std: 0.3, sigma: 4.0, threshold: 0.69, intensity: 0.6, mud: false };
    assert_eq!(spatter::spatter_from_layer(&img, p, &vec![0.5; 40 * 40]).data, img.data);
}

#[test]
fn mud_spatter_only_darkens_toward_brown() {
    let img = constant(64, 64, 3, 250);
    let out =
        Corruptor::with_preset(Preset::Cifar).apply(&img, "spatter", 5, &mut rng_for(2, "spatter", 5, 0)).unwrap();
    let changed: Vec<&[u8]> = out.data.chunks(3).filter(|p| p != &[249, 249, 249] && p != &[250, 250, 250]).collect();
    assert!(!changed.is_empty());
    // Mixing white with (63, 42, 20) keeps R ≥ G ≥ B.
    assert!(changed.iter().all(|p| p[0] >= p[1] && p[1] >= p[2]), "{:?}", &changed[..3.min(changed.len())]);
}

#[test]
fn pixelate_enlarges_with_box_or_nearest() {
    let src = [10u8, 20, 30, 40];
    assert_eq!(
        pillow::nearest_resize(&src, (2, 2, 1), (4, 4)),
        vec![10, 10, 20, 20, 10, 10, 20, 20, 30, 30, 40, 40, 30, 30, 40, 40]
    );
}

#[test]
fn groups_presets_and_selection() {
    assert_eq!(select("noise").unwrap(), vec!["gaussian_noise", "shot_noise", "impulse_noise"]);
    assert_eq!(select("common").unwrap().len(), 15);
    assert_eq!(select("all").unwrap().len(), 19);
    assert_eq!(
        select("validation,fog,spatter").unwrap(),
        vec!["speckle_noise", "gaussian_blur", "spatter", "saturate", "fog"]
    );
    assert_eq!(select("weather").unwrap(), vec!["snow", "frost", "fog", "brightness"]);
    assert!(select("fgo").unwrap_err().to_string().starts_with("unknown corruption 'fgo'"));
    assert_eq!(corrupt::family("pixelate"), "digital");
    assert_eq!(corrupt::family("spatter"), "extra");
    assert_eq!(Preset::for_size(32, 32), Preset::Cifar);
    assert_eq!(Preset::for_size(28, 28), Preset::Cifar);
    assert_eq!(Preset::for_size(224, 224), Preset::ImageNet);
    assert_eq!(Preset::for_size(300, 200), Preset::Sized);
    assert!(Preset::parse("tiny")
        .unwrap_err()
        .to_string()
        .contains("unknown preset 'tiny' (known: cifar, imagenet, sized)"));
    // The size-adaptive preset refuses images under 32 px, as imagecorruptions does; the others take any size.
    let sized = Corruptor::with_preset(Preset::Sized);
    let err = sized.apply(&constant(31, 40, 3, 9), "fog", 1, &mut rng_for(0, "fog", 1, 0)).unwrap_err().to_string();
    assert!(err.contains("needs images of at least 32x32 px") && err.contains("31x40"), "{err}");
    assert!(sized.apply(&constant(32, 40, 3, 9), "fog", 1, &mut rng_for(0, "fog", 1, 0)).is_ok());
    for preset in [Preset::Cifar, Preset::ImageNet] {
        assert!(Corruptor::with_preset(preset)
            .apply(&constant(4, 4, 1, 9), "glass_blur", 5, &mut rng_for(0, "g", 5, 0))
            .is_ok());
    }
}

#[test]
fn a_set_gives_the_same_bytes_on_any_thread_count_and_per_image() {
    let data: Vec<u8> = (0..37 * 32 * 32 * 3).map(|i| (i * 31 % 251) as u8).collect();
    let set = corrupt::ImageSet { data: &data, height: 32, width: 32, channels: 3 };
    let c = Corruptor::default();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let count = |n: usize| {
        done.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
    };
    let one = corrupt::corrupt_set(&c, set, "snow", 3, 9, 1, &count).unwrap();
    assert_eq!(done.load(std::sync::atomic::Ordering::Relaxed), 37);
    let three = corrupt::corrupt_set(&c, set, "snow", 3, 9, 3, &|_| {}).unwrap();
    assert_eq!(one, three);
    let img = Image::new(data[20 * 3072..21 * 3072].to_vec(), 32, 32, 3).unwrap();
    let alone = c.apply(&img, "snow", 3, &mut rng_for(9, "snow", 3, 20)).unwrap();
    assert_eq!(&one[20 * 3072..21 * 3072], &alone.data[..]);
}

#[test]
fn clipped_zoom_is_the_crop_zoomed_then_trimmed_to_the_bit() {
    use corrupt::geometry::{clipped_zoom, zoom_centre_crop, zoom_linear};
    for (h, w) in [(32usize, 32usize), (28, 28), (17, 40), (37, 41), (224, 224)] {
        let plane: Vec<f64> = (0..h * w).map(|i| ((i * 7919) % 1009) as f64 / 1009.0).collect();
        for zoom in [1.0, 1.02, 1.06, 1.11, 1.3, 1.56, 2.0, 2.5, 4.5] {
            // The reference's steps: crop the centre ⌈n/z⌉, zoom it, trim the result around its centre.
            let (ch, cw) = (((h as f64) / zoom).ceil() as usize, ((w as f64) / zoom).ceil() as usize);
            let (top, left) = (h.saturating_sub(ch) / 2, w.saturating_sub(cw) / 2);
            let (ch, cw) = (ch.min(h), cw.min(w));
            let crop: Vec<f64> = (0..ch * cw).map(|i| plane[(top + i / cw) * w + left + i % cw]).collect();
            let (z, zh, zw) = zoom_linear(&crop, (ch, cw), zoom);
            // imagecorruptions keeps the whole zoomed crop.
            assert!(zoom_centre_crop(&plane, (h, w, 1), zoom) == (z.clone(), zh, zw), "{h}x{w} zoom {zoom} uncut");
            assert!(zh >= h && zw >= w, "{h}x{w} zoom {zoom}: the zoomed crop covers the image");
            let (ty, tx) = (zh.saturating_sub(h) / 2, zw.saturating_sub(w) / 2);
            let want: Vec<f64> =
                (0..h * w).map(|i| z[((ty + i / w).min(zh - 1)) * zw + (tx + i % w).min(zw - 1)]).collect();
            let got = clipped_zoom(&plane, (h, w, 1), zoom);
            assert!(got == want, "{h}x{w} zoom {zoom}");
            // Interleaved channels: each is zoomed as if it were alone.
            let rgb: Vec<f64> = plane.iter().flat_map(|&v| [v, v * 0.5, 1.0 - v]).collect();
            let zoomed = clipped_zoom(&rgb, (h, w, 3), zoom);
            for ch in 0..3 {
                let alone: Vec<f64> = rgb.iter().skip(ch).step_by(3).copied().collect();
                let got: Vec<f64> = zoomed.iter().skip(ch).step_by(3).copied().collect();
                assert!(got == clipped_zoom(&alone, (h, w, 1), zoom), "{h}x{w}x3 zoom {zoom} channel {ch}");
            }
        }
    }
}

#[test]
fn the_fft_filter_equals_the_direct_reflect101_correlation() {
    // An asymmetric kernel tells correlation from convolution and catches a transposed spectrum.
    for ((h, w), k) in [((40usize, 23usize), 9usize), ((17, 31), 21), ((224, 224), 21), ((5, 9), 3)] {
        let kernel: Vec<f64> = (0..k * k).map(|i| ((i * 37 % 23) as f64 - 7.0) / 100.0).collect();
        let data: Vec<f64> = (0..h * w * 3).map(|i| ((i * 7919) % 1009) as f64 / 1009.0).collect();
        let fft = corrupt::fft_filter::filter2d_reflect101_fft(&data, (h, w, 3), &kernel, k);
        for ch in 0..3 {
            let plane: Vec<f64> = data.iter().skip(ch).step_by(3).copied().collect();
            let got: Vec<f64> = fft.iter().skip(ch).step_by(3).copied().collect();
            let want = opencv::filter2d_reflect101(&plane, h, w, &kernel, k);
            let err = want.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-12, "{h}x{w}, {k}x{k}: max difference {err}");
        }
    }
    // A gray image: one channel, the imaginary part unused.
    let gray: Vec<f64> = (0..30 * 20).map(|i| (i % 17) as f64).collect();
    let kernel: Vec<f64> = (0..49).map(|i| (i % 5) as f64 / 50.0).collect();
    let got = corrupt::fft_filter::filter2d_reflect101_fft(&gray, (30, 20, 1), &kernel, 7);
    let want = opencv::filter2d_reflect101(&gray, 30, 20, &kernel, 7);
    assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() < 1e-12));
    assert!(corrupt::fft_filter::worth_it(61, (224, 224), 17));
    assert!(!corrupt::fft_filter::worth_it(25, (32, 32), 17));
}
