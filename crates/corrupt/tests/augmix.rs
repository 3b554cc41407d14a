//! AugMix's operations against Pillow's definitions on hand-made images, and the mixing's contract.
use corrupt::augmix::{
    affine, augment_and_mix, autocontrast, brightness, color, equalize, posterize, rotate, solarize, AugMixParams,
};
use corrupt::{sample_picture, Image};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn gray(values: Vec<u8>, h: usize, w: usize) -> Image {
    Image::new(values, h, w, 1).unwrap()
}

#[test]
fn autocontrast_stretches_each_channel_to_the_full_range_truncating() {
    let img = gray(vec![50, 60, 75, 100], 2, 2);
    let scale = 255.0 / 50.0;
    let want: Vec<u8> = [50.0, 60.0, 75.0, 100.0].iter().map(|v: &f64| ((v - 50.0) * scale) as u8).collect();
    assert_eq!(autocontrast(&img).data, want);
    assert_eq!(autocontrast(&gray(vec![7; 4], 2, 2)).data, vec![7; 4], "a flat channel is left alone");
}

#[test]
fn equalize_follows_pillows_integer_steps() {
    // 1024 pixels: 512 of 10, 256 of 100, 256 of 200. step = (1024 − 256) // 256 = 3, n starts at 1:
    // 10 → 1 // 3 = 0, 100 → (1 + 512) // 3 = 171, 200 → (513 + 256) // 3 = 256, clipped to 255.
    let mut v = vec![10u8; 512];
    v.extend(vec![100u8; 256]);
    v.extend(vec![200u8; 256]);
    let out = equalize(&gray(v, 32, 32)).data;
    assert_eq!((out[0], out[600], out[900]), (0, 171, 255));
}

#[test]
fn posterize_and_solarize_are_their_lookup_tables() {
    assert_eq!(posterize(&gray(vec![0b1011_0111], 1, 1), 3).data, vec![0b1010_0000]);
    assert_eq!(solarize(&gray(vec![127, 128, 200], 1, 3), 128).data, vec![127, 127, 55]);
}

#[test]
fn integer_translation_shifts_exactly_and_fills_black() {
    let img = gray((0..16).map(|v| v * 10).collect(), 4, 4);
    // Output x samples input x + 1.
    let out = affine(&img, [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]).data;
    for y in 0..4 {
        for x in 0..4 {
            let want = if x < 3 { img.data[y * 4 + x + 1] } else { 0 };
            assert_eq!(out[y * 4 + x], want, "({y}, {x})");
        }
    }
}

#[test]
fn rotation_is_counter_clockwise_about_the_centre() {
    let img = gray((0..16).map(|v| v * 10).collect(), 4, 4);
    assert_eq!(rotate(&img, 0.0), img);
    // A quarter turn counter-clockwise: output row y, column x shows input row x, column 3 − y.
    let out = rotate(&img, 90.0).data;
    for y in 0..4 {
        for x in 0..4 {
            assert_eq!(out[y * 4 + x], img.data[x * 4 + 3 - y], "({y}, {x})");
        }
    }
}

#[test]
fn enhancers_blend_with_their_degenerate_images() {
    let img = sample_picture(32, 1);
    assert_eq!(brightness(&img, 1.0), img);
    assert!(brightness(&img, 0.0).data.iter().all(|&v| v == 0));
    let grey = color(&img, 0.0);
    assert!(grey.data.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]), "factor 0 gives the grey image");
}

#[test]
fn augment_and_mix_is_a_seeded_convex_mix_in_range() {
    let img = sample_picture(32, 2);
    let p = AugMixParams::default();
    let run = |seed| augment_and_mix(&img, &p, &mut ChaCha8Rng::seed_from_u64(seed));
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), img.data.len());
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    let clean: Vec<f32> = img.data.iter().map(|&v| v as f32 / 255.0).collect();
    assert!(a.iter().zip(&clean).any(|(x, y)| (x - y).abs() > 1e-3));
}
