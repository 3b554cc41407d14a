//! AugMix's operations and pixelate byte for byte against Pillow's outputs (written by
//! scripts/pillow-augmix-fixtures.py with Pillow 13.0 into tests/fixtures/pillow).
use corrupt::augmix::{
    affine, autocontrast, brightness, color, contrast, equalize, posterize, rotate, sharpness, solarize,
};
use corrupt::Image;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/pillow/{name}.raw"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_operation_is_byte_identical_to_pillow() {
    let img = Image::new(fixture("input"), 32, 32, 3).unwrap();
    let ours: Vec<(&str, Image)> = vec![
        ("autocontrast", autocontrast(&img)),
        ("equalize", equalize(&img)),
        ("posterize3", posterize(&img, 3)),
        ("rotate7", rotate(&img, 7.0)),
        ("rotate-9", rotate(&img, -9.0)),
        ("solarize100", solarize(&img, 100)),
        ("shearx0.2", affine(&img, [1.0, 0.2, 0.0, 0.0, 1.0, 0.0])),
        ("sheary-0.25", affine(&img, [1.0, 0.0, 0.0, -0.25, 1.0, 0.0])),
        ("translatex5", affine(&img, [1.0, 0.0, 5.0, 0.0, 1.0, 0.0])),
        ("color1.5", color(&img, 1.5)),
        ("contrast0.4", contrast(&img, 0.4)),
        ("brightness1.7", brightness(&img, 1.7)),
        ("sharpness1.9", sharpness(&img, 1.9)),
    ];
    for (name, out) in ours {
        let want = fixture(name);
        let differing = out.data.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{name}: {differing} of {} values differ from Pillow", want.len());
    }
}

#[test]
fn pixelate_is_byte_identical_to_pillow_box_and_nearest() {
    let inputs = [
        ("32", Image::new(fixture("input"), 32, 32, 3).unwrap()),
        ("61x47", Image::new(fixture("input61x47"), 61, 47, 3).unwrap()),
    ];
    for (tag, img) in &inputs {
        for c in [0.95, 0.9, 0.85, 0.75, 0.65, 0.6, 0.5, 0.4, 0.3, 0.25] {
            for (back, nearest) in [("box", false), ("nearest", true)] {
                let name = format!("pixelate{tag}-{c}-{back}");
                let out = corrupt::ops::pixelate(img, c, nearest);
                let want = fixture(&name);
                let differing = out.data.iter().zip(&want).filter(|(a, b)| a != b).count();
                assert_eq!(differing, 0, "{name}: {differing} of {} values differ from Pillow", want.len());
            }
        }
    }
}

#[test]
fn jpeg_is_byte_identical_to_pillows_save_and_open() {
    // libjpeg-turbo's lossy stages as PIL runs them, at every quality the presets use: RGB at 4:2:0
    // (odd sides: the encoder's edge padding and the decoder's edge upsampling), grayscale, and a
    // 3x5 picture whose 2-sample-wide chroma is upsampled without the triangle filter.
    let odd = fixture("input61x47");
    let inputs = [
        ("32", Image::new(fixture("input"), 32, 32, 3).unwrap()),
        ("61x47", Image::new(odd.clone(), 61, 47, 3).unwrap()),
        ("61x47gray", Image::new(odd.iter().step_by(3).copied().collect(), 61, 47, 1).unwrap()),
        ("3x5", Image::new(fixture("input3x5"), 3, 5, 3).unwrap()),
    ];
    for (tag, img) in &inputs {
        for q in [80, 65, 58, 50, 40, 25, 18, 15, 10, 7] {
            let name = format!("jpeg{tag}-{q}");
            let (want, ours) = (fixture(&name), corrupt::digital::jpeg(img, q).unwrap());
            assert_eq!(ours.data.len(), want.len(), "{name}: size");
            let differing = ours.data.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(differing, 0, "{name}: {differing} of {} values differ from Pillow", want.len());
        }
    }
}
