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
fn jpeg_artefacts_are_as_strong_as_pillows() {
    // Not the same bytes (another encoder and decoder), but the same kind of loss: the error against
    // the clean picture stays close to what PIL's libjpeg leaves at each quality.
    let mean_abs =
        |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).abs()).sum::<f64>() / a.len() as f64;
    let inputs = [
        ("32", Image::new(fixture("input"), 32, 32, 3).unwrap()),
        ("61x47", Image::new(fixture("input61x47"), 61, 47, 3).unwrap()),
    ];
    for (tag, img) in &inputs {
        for q in [80, 50, 25, 10] {
            let pil = fixture(&format!("jpeg{tag}-{q}"));
            let ours = corrupt::digital::jpeg(img, q).unwrap();
            let (e_pil, e_ours, apart) =
                (mean_abs(&pil, &img.data), mean_abs(&ours.data, &img.data), mean_abs(&ours.data, &pil));
            println!("{tag} quality {q}: mean |PIL - clean| {e_pil:.2}, mean |ours - clean| {e_ours:.2}, mean |ours - PIL| {apart:.2}");
            assert!(
                (0.8..1.6).contains(&(e_ours / e_pil)),
                "{tag} quality {q}: error {e_ours:.2} against PIL's {e_pil:.2}"
            );
        }
    }
}
