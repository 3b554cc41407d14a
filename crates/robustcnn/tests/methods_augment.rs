//! The loader-side methods: AugMix's Jensen–Shannon term against its formula, its views and TENET's
//! clean copy in the loader, Cutout's square and Random Erasing's rectangle, and how compositions
//! resolve AugMix's defaults.
use robustcnn::config::{AugMixConfig, Config, CutoutConfig, ErasingConfig, ErasingFill};
use robustcnn::data::augment::{AugMixSpec, Augment, MethodAugment};
use robustcnn::data::loader::{batches_per_epoch, make_batch, LoaderSpec};
use robustcnn::data::Dataset;
use robustcnn::methods::cutout::cutout;
use robustcnn::methods::random_erasing::random_erasing;
use robustcnn::methods::{self, augmix::jensen_shannon};
use robustcnn::rng::rng_for;
use std::path::Path;
use tch::Tensor;

#[test]
fn jensen_shannon_matches_its_formula_and_vanishes_for_identical_predictions() {
    let rows = [[1.0f32, 0.0, -1.0], [0.5, 2.0, 0.0], [-1.0, 0.3, 0.9]];
    let logits: Vec<Tensor> = rows.iter().map(|r| Tensor::from_slice(r).reshape([1, 3])).collect();
    let softmax = |r: &[f32; 3]| {
        let e: Vec<f64> = r.iter().map(|&v| (v as f64).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect::<Vec<f64>>()
    };
    let p: Vec<Vec<f64>> = rows.iter().map(softmax).collect();
    let m: Vec<f64> = (0..3).map(|k| ((p[0][k] + p[1][k] + p[2][k]) / 3.0).clamp(1e-7, 1.0)).collect();
    let kl = |q: &[f64]| (0..3).map(|k| q[k] * (q[k] / m[k]).ln()).sum::<f64>();
    let want = (kl(&p[0]) + kl(&p[1]) + kl(&p[2])) / 3.0;
    let got = jensen_shannon(&logits).double_value(&[]);
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let same = vec![logits[0].shallow_clone(), logits[0].shallow_clone(), logits[0].shallow_clone()];
    assert!(jensen_shannon(&same).double_value(&[]).abs() < 1e-7);
}

fn toy(n: usize) -> Dataset {
    let images: Vec<u8> = (0..n * 8 * 8 * 3).map(|i| (i * 37 % 251) as u8).collect();
    let labels = (0..n).map(|i| (i % 3) as u16).collect();
    Dataset::new(Path::new("toy"), images, labels, (8, 8, 3), vec!["a".into(), "b".into(), "c".into()]).unwrap()
}

fn spec(extra: MethodAugment) -> LoaderSpec {
    let augment = Some(Augment { crop_padding: 2, flip: true });
    LoaderSpec { batch_size: 4, shuffle: false, drop_last: false, augment, seed: 5, workers: 1, extra, shard: None }
}

fn augmix(jsd_views: bool, clean_copy: bool) -> MethodAugment {
    let params = Default::default();
    MethodAugment { augmix: Some(AugMixSpec { params, jsd_views, clean_copy }), ..Default::default() }
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn tenets_recipe_doubles_the_epoch_with_an_augmix_copy_and_a_clean_copy() {
    let ds = toy(6);
    let s = spec(augmix(false, true));
    assert_eq!(batches_per_epoch(6, &s), 3, "12 samples in batches of 4");
    let plain = make_batch(&ds, &[0, 1], &spec(Default::default()), 0);
    let mixed = make_batch(&ds, &[0, 1], &s, 0);
    let clean_copy = make_batch(&ds, &[6, 7], &s, 0);
    assert_ne!(floats(&mixed.images), floats(&plain.images), "indices below N are AugMix images");
    assert_eq!(floats(&clean_copy.labels.to_kind(tch::Kind::Float)), floats(&plain.labels.to_kind(tch::Kind::Float)));
    // The clean copy is crop and flip only (its draws come from its own index, so compare the shape of
    // the values: every value is a pixel of the source or the zero padding).
    let source: Vec<f32> = ds.images.iter().map(|&v| v as f32 / 255.0).collect();
    assert!(floats(&clean_copy.images).iter().all(|v| *v == 0.0 || source.contains(v)));
}

#[test]
fn the_jensen_shannon_recipe_delivers_the_clean_image_and_two_augmix_views() {
    let ds = toy(4);
    let b = make_batch(&ds, &[0, 1, 2, 3], &spec(augmix(true, false)), 0);
    let plain = make_batch(&ds, &[0, 1, 2, 3], &spec(Default::default()), 0);
    assert_eq!(b.views.len(), 2);
    assert_eq!(floats(&b.images), floats(&plain.images), "the first image is the same crop and flip, unmixed");
    assert_ne!(floats(&b.views[0]), floats(&b.views[1]));
    assert_ne!(floats(&b.views[0]), floats(&b.images));
}

#[test]
fn cutout_fills_one_clipped_square_with_the_mean() {
    let (h, w, c) = (32, 32, 3);
    let fill = [0.25f32, 0.5, 0.75];
    let mut cut = 0;
    for seed in 0..20 {
        let mut img = vec![-1f32; h * w * c];
        cutout(&mut img, (h, w, c), &CutoutConfig { size: 16, probability: 1.0 }, &fill, &mut rng_for(seed, &[]));
        for (ch, &f) in fill.iter().enumerate() {
            let filled: Vec<usize> = (0..h * w).filter(|&p| img[ch * h * w + p] == f).collect();
            let (rows, cols) = (
                filled.iter().map(|p| p / w).collect::<std::collections::BTreeSet<_>>(),
                filled.iter().map(|p| p % w).collect::<std::collections::BTreeSet<_>>(),
            );
            assert_eq!(filled.len(), rows.len() * cols.len(), "a rectangle");
            assert!(rows.len() <= 16 && cols.len() <= 16 && !filled.is_empty());
            cut += (rows.len() == 16 && cols.len() == 16) as usize;
        }
    }
    assert!(cut > 0, "an unclipped square is 16x16");
    let mut img = vec![-1f32; h * w * c];
    cutout(&mut img, (h, w, c), &CutoutConfig { size: 16, probability: 0.0 }, &fill, &mut rng_for(0, &[]));
    assert!(img.iter().all(|&v| v == -1.0));
}

#[test]
fn random_erasing_fills_a_rectangle_of_the_sampled_area() {
    let (h, w) = (32, 32);
    let cfg = ErasingConfig { probability: 1.0, fill: ErasingFill::Mean, ..Default::default() };
    for seed in 0..20 {
        let mut img = vec![-1f32; h * w];
        random_erasing(&mut img, (h, w, 1), &cfg, &[0.5], &mut rng_for(seed, &[]));
        let n = img.iter().filter(|&&v| v == 0.5).count() as f64;
        // h, w are rounded, so the area may leave [0.02, 0.4]·HW by a rounding margin.
        assert!(n >= 0.5 * 0.02 * (h * w) as f64 && n <= 0.4 * (h * w) as f64 + 2.0 * 32.0, "{n} pixels");
    }
}

fn resolved(name: &str) -> Config {
    let mut c = Config::load(None, &[format!("method.name=\"{name}\"")]).unwrap();
    methods::resolve(&mut c.method);
    c
}

#[test]
fn augmix_alone_is_the_papers_recipe_and_combined_is_tenets() {
    let alone = resolved("augmix").method.get::<AugMixConfig>().unwrap();
    assert_eq!((alone.jsd, alone.clean_copy, alone.lambda), (Some(true), Some(false), 12.0));
    let with_tenet = resolved("tenet+augmix").method.get::<AugMixConfig>().unwrap();
    assert_eq!((with_tenet.jsd, with_tenet.clean_copy), (Some(false), Some(true)));
    let err = Config::load(None, &["method.name=\"lfm+augmix\"".into(), "method.augmix.jsd=true".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("method.augmix.jsd needs the plain training step; lfm owns the step"), "{err}");
    let err = Config::load(None, &["method.cutout.size=0".into(), "method.name=\"cutout\"".into()]).unwrap_err();
    assert!(err.to_string().contains("method.cutout.size must be at least 1 pixel"));
    assert!(Config::load(None, &["method.name=\"augmix+cutout+random-erasing\"".into()]).is_ok());
}
