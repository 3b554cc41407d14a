//! LFM on its mechanism (docs/methods.md §1): Random-Erasing boxes of the sampled area and aspect, the
//! released code's stripe, regions written with their fill and no gradient, the gates, and masking
//! only inside the training step.
use robustcnn::config::{Config, LfmConfig, LfmFill, LfmGate, LfmRegion, OptimConfig};
use robustcnn::methods::lfm::{apply, covered, plan, Region};
use robustcnn::methods::random_erasing::erasing_box;
use robustcnn::methods::{self, StepContext};
use robustcnn::models::{self, ModelSpec};
use robustcnn::rng::rng_for;
use robustcnn::train::optim::Optimizer;
use tch::{nn::VarStore, Device, Kind, Tensor};

#[test]
fn boxes_have_the_sampled_area_and_aspect_and_fit_the_map() {
    let mut rng = rng_for(1, &[]);
    let (h, w) = (32, 24);
    for _ in 0..2000 {
        let (bh, bw, x1, y1) = erasing_box(&mut rng, h, w, [0.02, 0.4], [0.3, 1.0 / 0.3]).unwrap();
        assert!(bh < h && bw < w && x1 + bh <= h && y1 + bw <= w);
        // Rounding h and w to integers moves the area and aspect by at most half a pixel each way.
        let area = (bh * bw) as f64 / (h * w) as f64;
        let lo = ((0.02 * (h * w) as f64).sqrt() - 1.0).powi(2) / (h * w) as f64;
        assert!((lo..=0.4 * 1.3).contains(&area), "area {area}");
        let aspect = bh as f64 / bw.max(1) as f64;
        assert!((0.3 * 0.6..=3.34 / 0.6).contains(&aspect), "aspect {aspect} ({bh}x{bw})");
    }
}

#[test]
fn the_stripe_is_what_the_released_codes_chained_slices_write() {
    // x[i][c][y1:y1+h][x1:x1+w] on a 10×6 map: rows y1.. then rows x1.. of those, all columns.
    assert_eq!(covered(LfmRegion::Stripe, (4, 3, 2, 5), 10, 6), ((7, 9), (0, 6)));
    assert_eq!(covered(LfmRegion::Stripe, (2, 2, 3, 1), 10, 6).0, (3, 3), "empty when x1 ≥ h'");
    assert_eq!(covered(LfmRegion::Rectangle, (4, 3, 2, 5), 10, 6), ((2, 6), (5, 8)));
}

#[test]
fn regions_are_written_with_their_fill_in_order_and_pass_no_gradient() {
    let feat = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).reshape([2, 3, 4, 5]).set_requires_grad(true);
    let regions = vec![
        Region { sample: 1, channel: 2, rows: (1, 3), cols: (0, 2), value: 0.25 },
        Region { sample: 1, channel: 2, rows: (2, 4), cols: (1, 3), value: 0.75 },
    ];
    let out = apply(&feat, &regions, LfmFill::Random);
    let v = |t: &Tensor, r: i64, c: i64| t.double_value(&[1, 2, r, c]);
    assert_eq!((v(&out, 1, 0), v(&out, 1, 1), v(&out, 2, 0)), (0.25, 0.25, 0.25));
    assert_eq!((v(&out, 2, 1), v(&out, 3, 2)), (0.75, 0.75), "the later region wins");
    assert_eq!(v(&out, 0, 0), v(&feat, 0, 0));
    let changed = out.ne_tensor(&feat).sum(Kind::Int64).int64_value(&[]);
    assert_eq!(changed, 4 + 4 - 1, "exactly the union of the two regions");
    out.sum(Kind::Float).backward();
    let g = feat.grad();
    assert_eq!(g.sum(Kind::Float).double_value(&[]), (120 - 7) as f64, "masked positions pass no gradient");
    let zero = apply(&feat.detach(), &regions, LfmFill::Zero);
    assert_eq!(v(&zero, 2, 1), 0.0);
    let mean = apply(&feat.detach(), &regions, LfmFill::Mean);
    let channel_mean = feat.detach().get(1).get(2).mean(Kind::Float).double_value(&[]);
    assert!((v(&mean, 2, 1) - channel_mean).abs() < 1e-5);
}

#[test]
fn the_gates_choose_whole_batches_or_single_samples() {
    let cfg = LfmConfig::default();
    let steps = 400;
    let batches = (0..steps).filter(|&s| !plan(&cfg, 0, s, 16, 64, 32, 32).is_empty()).count();
    let rate = batches as f64 / steps as f64;
    assert!((rate - 0.15).abs() < 0.05, "per-batch gate fires at {rate}");
    for s in 0..steps {
        let regions = plan(&cfg, 0, s, 16, 64, 32, 32);
        if let Some(first) = regions.first() {
            let samples: std::collections::BTreeSet<usize> = regions.iter().map(|r| r.sample).collect();
            assert_eq!(samples.len(), 16, "a firing batch gate masks every sample");
            let chans = |i| regions.iter().filter(|r| r.sample == i).map(|r| r.channel).collect::<Vec<_>>();
            assert_eq!(chans(first.sample), chans(15), "one channel list per batch");
        }
    }
    let per_sample = LfmConfig { gate: LfmGate::Sample, probability: 0.5, max_samples: Some(8), ..cfg };
    let masked: usize = (0..100)
        .map(|s| {
            plan(&per_sample, 0, s, 16, 8, 16, 16)
                .iter()
                .map(|r| r.sample)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        })
        .sum();
    assert!((masked as f64 / 800.0 - 0.5).abs() < 0.08, "per-sample gate: {masked} of 800");
    assert!((0..100).all(|s| plan(&per_sample, 0, s, 16, 8, 16, 16).iter().all(|r| r.sample < 8)));
}

#[test]
fn lfm_masks_inside_the_training_step_only() {
    let vs = VarStore::new(Device::Cpu);
    let spec = ModelSpec { in_channels: 1, num_classes: 10, mean: vec![0.3], std: vec![0.3] };
    let net = robustcnn::rng::with_torch_seed(1, &[], || models::build(&vs.root(), "small-cnn", &spec)).unwrap();
    let x = robustcnn::rng::with_torch_seed(2, &[], || Tensor::rand([4, 1, 28, 28], (Kind::Float, Device::Cpu)));
    let y = Tensor::from_slice(&[1i64, 2, 3, 4]);
    let ids = [0u64, 1, 2, 3];
    let logits_with = |p: f64| {
        let mut cfg =
            Config::load(None, &["method.name=\"lfm\"".into(), format!("method.lfm.probability={p:?}")]).unwrap();
        methods::resolve(&mut cfg.method);
        let mut m = methods::build(&cfg.method, &net, 10).unwrap();
        // lr 0: the step changes nothing but batch-norm statistics, so the logits compare.
        let mut opt = Optimizer::new(&vs, &OptimConfig { momentum: 0.0, weight_decay: 0.0, ..Default::default() });
        let mut ctx = StepContext::new(&net, &mut opt, 0.0, &ids);
        let out = m.train_step(&mut ctx, &x, &y).unwrap();
        (out.logits, out.terms)
    };
    let plain = tch::no_grad(|| net.forward(&x, true));
    let (unmasked, terms) = logits_with(0.0);
    assert!(terms.iter().any(|(n, v)| n == "lfm_regions" && *v == 0.0));
    assert_eq!((&unmasked - &plain).abs().max().double_value(&[]), 0.0);
    let (masked, terms) = logits_with(1.0);
    assert!(terms.iter().any(|(n, v)| n == "lfm_regions" && *v > 0.0));
    assert!((&masked - &plain).abs().max().double_value(&[]) > 1e-4);
}

#[test]
fn lfm_settings_are_checked() {
    let err = |sets: &[&str]| {
        Config::load(None, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err().to_string()
    };
    assert!(err(&["method.lfm.probability=0.5"]).contains("method.lfm.* is only used by the lfm method"));
    let lfm = "method.name=\"lfm\"";
    assert!(err(&[lfm, "method.lfm.probability=1.5"]).contains("method.lfm.probability must be in [0, 1]"));
    assert!(err(&[lfm, "method.lfm.area=[0.5, 0.1]"]).contains("method.lfm.area must be [low, high]"));
    assert!(err(&[lfm, "method.lfm.region=\"circle\""]).contains("unknown variant `circle`"));
    assert!(err(&[lfm, "method.lfm.stage=\"head\""]).contains("must be a convolutional stage"));
}
