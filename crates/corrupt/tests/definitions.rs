//! Each corruption against its definition on known inputs (docs/methods.md §4.1.2).
use corrupt::{corrupt, pillow, rng_for, Corruptor, Image, Preset, ALL};

fn constant(h: usize, w: usize, c: usize, v: u8) -> Image {
    Image::new(vec![v; h * w * c], h, w, c).unwrap()
}

/// A textured RGB test picture (a fixed pseudo-random pattern), so that blurs change it measurably.
fn picture(h: usize, w: usize) -> Image {
    let data = (0..h * w * 3).map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    Image::new(data, h, w, 3).unwrap()
}

/// The CIFAR-10-C parameters (docs/methods.md §4.1.2), whatever the test image's size.
fn run(img: &Image, name: &str, severity: u8) -> Image {
    run_with(Preset::Cifar, img, name, severity, 0)
}

fn run_with(preset: Preset, img: &Image, name: &str, severity: u8, index: u64) -> Image {
    Corruptor::with_preset(preset).apply(img, name, severity, &mut rng_for(7, name, severity, index)).unwrap()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt())
}

#[test]
fn gaussian_and_speckle_noise_have_the_stated_std() {
    let img = constant(128, 128, 1, 128);
    let x = 128.0 / 255.0;
    let g: Vec<f64> = run(&img, "gaussian_noise", 5).data.iter().map(|&v| v as f64 / 255.0 - x).collect();
    let (m, s) = mean_std(&g);
    // σ = 0.10 at severity 5; truncation to u8 lowers the mean by half a level (0.002).
    assert!((s - 0.10).abs() < 0.004 && (m + 0.002).abs() < 0.003, "{m} {s}");
    let sp: Vec<f64> = run(&img, "speckle_noise", 5).data.iter().map(|&v| v as f64 / 255.0 - x).collect();
    let (_, s) = mean_std(&sp);
    assert!((s - 0.20 * x).abs() < 0.004, "{s}");
}

#[test]
fn shot_noise_has_poisson_variance() {
    let img = constant(128, 128, 1, 128);
    let x = 128.0 / 255.0;
    let v: Vec<f64> = run(&img, "shot_noise", 5).data.iter().map(|&v| v as f64 / 255.0).collect();
    let (m, s) = mean_std(&v);
    // Poisson(x·50)/50: mean x, variance x/50.
    assert!((m - x).abs() < 0.005, "{m}");
    assert!((s * s - x / 50.0).abs() < 0.0008, "{}", s * s);
}

#[test]
fn impulse_noise_hits_the_stated_fraction_half_salt_half_pepper() {
    let img = constant(100, 100, 3, 128);
    let out = run(&img, "impulse_noise", 5);
    let salt = out.data.iter().filter(|&&v| v == 255).count() as f64 / out.data.len() as f64;
    let pepper = out.data.iter().filter(|&&v| v == 0).count() as f64 / out.data.len() as f64;
    assert!((salt + pepper - 0.07).abs() < 0.006, "{salt} {pepper}");
    assert!((salt - pepper).abs() < 0.008);
    assert!(out.data.iter().all(|&v| v == 0 || v == 128 || v == 255));
}

#[test]
fn brightness_raises_the_hsv_value_and_keeps_hue_and_saturation() {
    // RGB (51, 102, 153) = (0.2, 0.4, 0.6): V = 0.6; +0.3 at severity 5 scales every channel by 0.9/0.6.
    let img = Image::new(vec![51, 102, 153], 1, 1, 3).unwrap();
    let out = run(&img, "brightness", 5);
    let expect = [0.2, 0.4, 0.6].map(|v: f64| (v * 0.9 / 0.6 * 255.0) as u8);
    assert_eq!(out.data, expect.to_vec());
    // A gray image stays gray: its level rises by c.
    let gray = constant(2, 2, 1, 100);
    assert_eq!(run(&gray, "brightness", 1).data[0], ((100.0 / 255.0 + 0.05) * 255.0) as u8);
}

#[test]
fn saturate_scales_hsv_saturation() {
    // (0.2, 0.4, 0.6): S = 2/3, V = 0.6; severity 1 multiplies S by 0.3 ⇒ S = 0.2: min = 0.6·0.8 = 0.48.
    let img = Image::new(vec![51, 102, 153], 1, 1, 3).unwrap();
    let out = run(&img, "saturate", 1);
    assert_eq!(out.data[2], 153);
    assert_eq!(out.data[0], (0.48f64 * 255.0) as u8);
    // Gray RGB pixels have S = 0 and stay gray when b = 0; gray images are left as they are.
    let gray_rgb = constant(1, 1, 3, 90);
    assert_eq!(run(&gray_rgb, "saturate", 3).data, vec![90, 90, 90]);
    let gray = constant(3, 3, 1, 90);
    assert_eq!(run(&gray, "saturate", 5), gray);
}

#[test]
fn contrast_scales_deviations_from_the_channel_mean() {
    let img = Image::new(vec![0, 255, 51, 204], 2, 2, 1).unwrap();
    let out = run(&img, "contrast", 2); // c = 0.5 about the mean 0.5
    let expected: Vec<u8> =
        [0.0, 1.0, 0.2, 0.8].iter().map(|x: &f64| (((x - 0.5) * 0.5 + 0.5) * 255.0) as u8).collect();
    assert_eq!(out.data, expected);
    // RGB, 185 pixels (the sums run 16 pixels at a time, then the rest): each channel about its own mean.
    let rgb = Image::new((0..37 * 5 * 3).map(|i| (i * 97 % 251) as u8).collect(), 37, 5, 3).unwrap();
    let out = run(&rgb, "contrast", 4); // c = 0.3
    for ch in 0..3 {
        let values: Vec<f64> = rgb.data.iter().skip(ch).step_by(3).map(|&v| v as f64 / 255.0).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        for (i, x) in values.iter().enumerate() {
            let want = (((x - mean) * 0.3 + mean).clamp(0.0, 1.0) * 255.0) as i32;
            assert!((out.data[i * 3 + ch] as i32 - want).abs() <= 1, "channel {ch} pixel {i}");
        }
    }
}

#[test]
fn box_resize_averages_blocks_and_replicates_when_enlarging() {
    let src = [10u8, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160];
    let small = pillow::box_resize(&src, (4, 4, 1), (2, 2));
    // Horizontal pairs are averaged and rounded first (15, 35, …), then vertical pairs.
    assert_eq!(small, vec![35, 55, 115, 135]);
    let big = pillow::box_resize(&small, (2, 2, 1), (4, 4));
    assert_eq!(big, vec![35, 35, 55, 55, 35, 35, 55, 55, 115, 115, 135, 135, 115, 115, 135, 135]);
    let flat = constant(32, 32, 3, 77);
    assert_eq!(run(&flat, "pixelate", 5), flat);
}

#[test]
fn blurs_preserve_a_constant_image_and_the_mean() {
    for name in ["gaussian_blur", "defocus_blur"] {
        for s in 1..=5 {
            let flat = constant(32, 32, 3, 100);
            assert!(run(&flat, name, s).data.iter().all(|&v| v == 99 || v == 100), "{name} {s}");
        }
    }
    let (kernel, n) = corrupt::ops::disk_kernel(1.5, 0.1);
    assert_eq!(n, 17);
    // Float32 weights, as the reference's: they sum to 1 within float32 rounding.
    assert!((kernel.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    // Radius 1.5 covers the centre, its 4 neighbours at distance 1 and 4 diagonals at √2 ≈ 1.41: 9 taps.
    assert!(kernel[8 * 17 + 8] > kernel[8 * 17 + 10] * 100.0);
}

/// Corruptions whose mean deviation grows with severity by definition.
const ORDERED: [&str; 12] = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "gaussian_blur",
    "defocus_blur",
    "motion_blur",
    "zoom_blur",
    "brightness",
    "contrast",
    "pixelate",
    "jpeg_compression",
];

fn deviation(a: &Image, b: &Image) -> f64 {
    a.data.iter().zip(&b.data).map(|(&x, &y)| (x as f64 - y as f64).abs()).sum::<f64>() / a.data.len() as f64
}

#[test]
fn every_corruption_keeps_shape_is_deterministic_and_grows_with_severity() {
    for (preset, size) in [(Preset::Cifar, 32), (Preset::ImageNet, 96), (Preset::Sized, 80)] {
        let img = corrupt::sample_picture(size, 0);
        for name in ALL {
            let mut prev = 0.0;
            for s in 1..=5 {
                let a = run_with(preset, &img, name, s, 0);
                assert_eq!((a.height, a.width, a.channels), (size, size, 3), "{name}");
                assert_eq!(a, run_with(preset, &img, name, s, 0), "{name} must be deterministic for a seed");
                // Averaged over a few draws, since the random ones (frost's crop, snow's layer) vary.
                let dev = (0..4).map(|i| deviation(&run_with(preset, &img, name, s, i), &img)).sum::<f64>();
                // Only where the definition makes the damage grow with one parameter. Not ordered by mean
                // deviation: saturate (severity 3 raises saturation), elastic (affine step traded against
                // the field), CIFAR glass blur (its second blur smooths the swaps back), frost and fog (a·x
                // falls as the texture's weight rises), spatter (water turns to mud at severity 4), snow.
                if ORDERED.contains(&name) {
                    assert!(dev >= prev * 0.95, "{preset:?} {name}: severity {s} deviates less ({dev}) than {prev}");
                }
                assert!(dev > 0.0, "{preset:?} {name} {s} changed nothing");
                prev = dev;
            }
            assert!(prev > 0.0, "{preset:?} {name} changed nothing");
        }
    }
}

#[test]
fn gray_stays_gray_and_sizes_are_free() {
    let img = Image::new((0..40 * 50).map(|i| (i % 251) as u8).collect(), 40, 50, 1).unwrap();
    for preset in [Preset::Cifar, Preset::Sized] {
        for name in ALL {
            let out = run_with(preset, &img, name, 3, 0);
            assert_eq!((out.height, out.width, out.channels), (40, 50, 1), "{name}");
        }
    }
}

#[test]
fn bad_names_severities_and_shapes_are_errors() {
    let img = picture(8, 8);
    let e = corrupt(&img, "fog2", 1, &mut rng_for(0, "", 1, 0)).unwrap_err().to_string();
    assert!(e.starts_with("unknown corruption 'fog2' (known: gaussian_noise, shot_noise"), "{e}");
    assert!(e.ends_with("groups: common, validation, all, noise, blur, weather, digital)"), "{e}");
    assert_eq!(
        corrupt(&img, "contrast", 6, &mut rng_for(0, "", 1, 0)).unwrap_err().to_string(),
        "severity 6 is outside 1–5"
    );
    assert!(Image::new(vec![0; 10], 2, 2, 3).unwrap_err().to_string().contains("10 bytes do not make a 2x2 image"));
}

#[test]
fn one_list_defines_the_benchmark_the_extras_and_the_families() {
    use corrupt::registry::CORRUPTIONS;
    use corrupt::{family, group, BENCHMARK, EXTRA};
    let names: Vec<&str> = CORRUPTIONS.iter().map(|c| c.name).collect();
    assert_eq!(names, ALL, "ALL is the list, in order");
    assert_eq!([&BENCHMARK[..], &EXTRA[..]].concat(), ALL);
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 19, "no name twice");
    // imagecorruptions' groups: 3 noises, 4 blurs, 4 weathers, 4 digitals; the extras are their own family.
    for (f, n) in [("noise", 3), ("blur", 4), ("weather", 4), ("digital", 4)] {
        assert_eq!(group(f).unwrap().len(), n, "{f}");
    }
    assert!(EXTRA.iter().all(|c| family(c) == "extra"));
    assert_eq!(group("weather").unwrap(), ["snow", "frost", "fog", "brightness"]);
}
