//! Stability training, FMA, CA and dropout on their mechanism (docs/methods.md §3): the KL and feature-map
//! terms against their formulas, zero for identical inputs and positive otherwise; CA's view beside the
//! clean image; dropout only in training; default stages resolved per model.
use robustcnn::config::{Config, DropoutConfig, FmaConfig, FmaDistance, Granularity, OptimConfig};
use robustcnn::data::augment::{Augment, CaSpec, MethodAugment};
use robustcnn::data::loader::{make_batch, LoaderSpec};
use robustcnn::data::Dataset;
use robustcnn::methods::fma::distance;
use robustcnn::methods::stability::kl_divergence;
use robustcnn::methods::{self, StepContext};
use robustcnn::models::{self, ModelSpec, Network};
use robustcnn::rng::{rng_for, with_torch_seed};
use robustcnn::train::optim::Optimizer;
use std::path::Path;
use tch::{nn::VarStore, Device, Kind, Tensor};

#[test]
fn kl_divergence_matches_its_formula() {
    let (p, q) = ([0.2f32, 1.0, -0.5], [1.5f32, -0.3, 0.1]);
    let soft = |r: &[f32; 3]| {
        let e: Vec<f64> = r.iter().map(|&v| (v as f64).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect::<Vec<_>>()
    };
    let (sp, sq) = (soft(&p), soft(&q));
    let want: f64 = (0..3).map(|k| sp[k] * (sp[k] / sq[k]).ln()).sum();
    let t = |r: &[f32; 3]| Tensor::from_slice(r).reshape([1, 3]);
    assert!((kl_divergence(&t(&p), &t(&q)).double_value(&[]) - want).abs() < 1e-6);
    assert!(kl_divergence(&t(&p), &t(&p)).double_value(&[]).abs() < 1e-7);
}

#[test]
fn feature_map_distances_match_their_definitions() {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
    let b = Tensor::from_slice(&[1.0f32, 0.0, 3.0, 1.0]).reshape([2, 2]);
    let d = |k| distance(&a, &b, k).double_value(&[]);
    assert!((d(FmaDistance::Mse) - (4.0 + 9.0) / 4.0).abs() < 1e-6);
    assert!((d(FmaDistance::L1) - (2.0 + 3.0) / 4.0).abs() < 1e-6);
    assert!((d(FmaDistance::L2) - (2.0 + 3.0) / 2.0).abs() < 1e-6);
    let cos1 = 1.0 / 5f64.sqrt();
    let cos2 = (9.0 + 4.0) / (25f64.sqrt() * 10f64.sqrt());
    assert!((d(FmaDistance::Cosine) - ((1.0 - cos1) + (1.0 - cos2)) / 2.0).abs() < 1e-6);
    for k in [FmaDistance::Mse, FmaDistance::L1, FmaDistance::L2, FmaDistance::Cosine] {
        assert!(distance(&a, &a, k).double_value(&[]).abs() < 1e-6, "{k:?}");
    }
}

fn model() -> (VarStore, Network) {
    let vs = VarStore::new(Device::Cpu);
    let spec = ModelSpec { in_channels: 1, num_classes: 10, mean: vec![0.3], std: vec![0.3] };
    let net = with_torch_seed(1, &[], || models::build(&vs.root(), "small-cnn", &spec)).unwrap();
    (vs, net)
}

/// The terms of one step of `name` with `view` as the loader's perturbed copy (none: Gaussian noise).
fn step_terms(name: &str, view: Option<&dyn Fn(&Tensor) -> Tensor>) -> Vec<(String, f64)> {
    let (vs, net) = model();
    let mut cfg = Config::load(None, &[format!("method.name=\"{name}\"")]).unwrap();
    methods::resolve(&mut cfg.method);
    methods::bind(&mut cfg.method, &net);
    let mut m = methods::build(&cfg.method, &net, 10).unwrap();
    let x = with_torch_seed(3, &[], || Tensor::rand([8, 1, 28, 28], (Kind::Float, Device::Cpu)));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]);
    let ids: Vec<u64> = (0..8).collect();
    let mut opt = Optimizer::new(&vs, &OptimConfig::default());
    let mut ctx = StepContext::new(&net, &mut opt, 0.01, &ids);
    ctx.views = view.map(|f| vec![f(&x)]).unwrap_or_default();
    m.train_step(&mut ctx, &x, &y).unwrap().terms
}

fn term(terms: &[(String, f64)], name: &str) -> f64 {
    terms.iter().find(|t| t.0 == name).map(|t| t.1).unwrap()
}

#[test]
fn consistency_terms_vanish_for_identical_inputs_and_not_otherwise() {
    let same: &dyn Fn(&Tensor) -> Tensor = &|x: &Tensor| x.copy();
    assert!(term(&step_terms("fma", Some(same)), "fma").abs() < 1e-9);
    assert!(term(&step_terms("st", Some(same)), "st_kl").abs() < 1e-7);
    assert!(term(&step_terms("fma", None), "fma") > 1e-6, "Gaussian noise moves the maps");
    assert!(term(&step_terms("st", None), "st_kl") > 1e-9);
}

fn toy() -> Dataset {
    let images: Vec<u8> = (0..4 * 32 * 32 * 3).map(|i| (i * 37 % 251) as u8).collect();
    Dataset::new(Path::new("toy"), images, vec![0, 1, 2, 0], (32, 32, 3), vec!["a".into(), "b".into(), "c".into()])
        .unwrap()
}

fn spec(ca: Option<CaSpec>) -> LoaderSpec {
    let augment = Some(Augment { crop_padding: 2, flip: true });
    let extra = MethodAugment { ca, ..Default::default() };
    LoaderSpec { batch_size: 4, shuffle: false, drop_last: false, augment, seed: 9, workers: 1, extra, shard: None }
}

fn ca(as_view: bool, clean_fraction: f64) -> CaSpec {
    CaSpec {
        corruptions: vec!["gaussian_noise", "contrast"],
        severities: [3, 5],
        granularity: Granularity::Sample,
        clean_fraction,
        as_view,
    }
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn ca_gives_st_and_fma_a_corrupted_view_beside_the_clean_image() {
    let ds = toy();
    let plain = make_batch(&ds, &[0, 1, 2, 3], &spec(None), 0);
    let paired = make_batch(&ds, &[0, 1, 2, 3], &spec(Some(ca(true, 0.0))), 0);
    assert_eq!(floats(&paired.images), floats(&plain.images), "the main image is the clean crop and flip");
    assert_eq!(paired.views.len(), 1);
    assert_ne!(floats(&paired.views[0]), floats(&paired.images));
    let clean = make_batch(&ds, &[0, 1, 2, 3], &spec(Some(ca(true, 1.0))), 0);
    assert_eq!(floats(&clean.views[0]), floats(&clean.images), "clean fraction 1 leaves the view clean");
    let alone = make_batch(&ds, &[0, 1, 2, 3], &spec(Some(ca(false, 0.0))), 0);
    assert!(alone.views.is_empty());
    assert_eq!(floats(&alone.images), floats(&paired.views[0]), "alone, CA replaces the image");
}

#[test]
fn ca_draws_from_its_list_and_severity_range() {
    let spec = ca(false, 0.25);
    let draws: Vec<_> = (0..400).map(|i| spec.draw(&mut rng_for(i, &[]))).collect();
    let clean = draws.iter().filter(|d| d.is_none()).count();
    assert!((60..140).contains(&clean), "{clean} of 400 clean at fraction 0.25");
    for (name, s) in draws.into_iter().flatten() {
        assert!(["gaussian_noise", "contrast"].contains(&name) && (3..=5).contains(&s));
    }
}

#[test]
fn default_stages_are_resolved_from_the_model_and_settings_checked() {
    let (_vs, net) = model();
    let mut cfg = Config::load(None, &["method.name=\"fma+ca\"".into()]).unwrap();
    methods::resolve(&mut cfg.method);
    methods::bind(&mut cfg.method, &net);
    assert_eq!(cfg.method.get::<FmaConfig>().unwrap().stages.unwrap(), vec!["stem", "stage1", "stage2"]);
    let mut cfg = Config::load(None, &["method.name=\"dropout\"".into()]).unwrap();
    methods::resolve(&mut cfg.method);
    methods::bind(&mut cfg.method, &net);
    assert_eq!(cfg.method.get::<DropoutConfig>().unwrap().stage.as_deref(), Some("stage2"));
    let err = |sets: &[&str]| {
        Config::load(None, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err().to_string()
    };
    assert!(err(&["method.name=\"ca\"", "method.ca.augmentations=[\"fog\", \"sparkle\"]"])
        .contains("method.ca.augmentations unknown corruption 'sparkle'"));
    assert!(err(&["method.name=\"ca\"", "method.ca.severities=[4, 2]"]).contains("method.ca.severities must be"));
    assert!(err(&["method.name=\"ca+augmix\""]).contains("ca and augmix cannot be combined"));
    assert!(err(&["method.name=\"dropout\"", "method.dropout.probability=1.0"]).contains("must be in [0, 1)"));
    assert!(
        err(&["method.name=\"st\"", "method.fma.weight=2.0"]).contains("method.fma.* is only used by the fma method")
    );
}
