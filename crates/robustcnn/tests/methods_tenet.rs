//! TENET on its mechanism (docs/methods.md §2): the importance gradient against finite differences, the
//! k-means against the docs/methods.md §2.4 steps (by hand and against a literal host implementation), the masks as
//! the reverse sigmoid of the z-normalised group map with all-ones for non-positive importance, the
//! orthogonality loss by hand, the schedule, the second update, and the composition rules.
mod common;
use robustcnn::config::{Config, OptimConfig};
use robustcnn::methods::tenet::{importance_gradient, inhibition_masks, kmeans, orthogonality, Tenet};
use robustcnn::methods::{self, StepContext};
use robustcnn::models::{self, ModelSpec, Network};
use robustcnn::rng::{rng_for, with_torch_seed};
use robustcnn::train::optim::Optimizer;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn model() -> (VarStore, Network) {
    let vs = VarStore::new(Device::Cpu);
    let spec = ModelSpec { in_channels: 1, num_classes: 10, mean: vec![0.3], std: vec![0.3] };
    let net = with_torch_seed(1, &[], || models::build(&vs.root(), "small-cnn", &spec)).unwrap();
    (vs, net)
}

fn floats(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

fn longs(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn importance_gradient_matches_finite_differences_of_the_summed_true_class_sigmoid() {
    let (mut vs, net) = model();
    vs.double();
    let x = with_torch_seed(2, &[], || Tensor::rand([3, 1, 28, 28], (Kind::Double, Device::Cpu)));
    let y = Tensor::from_slice(&[1i64, 4, 7]);
    let stage = net.stage_index("stage1").unwrap();
    let (a, g) = importance_gradient(&net, &x, &y, stage);
    let objective = |feat: &Tensor| {
        tch::no_grad(|| {
            net.forward_from(feat, stage, false).gather(1, &y.unsqueeze(1), false).sigmoid().sum(Kind::Double)
        })
        .double_value(&[])
    };
    let flat_g = floats(&g);
    // The ten largest-gradient positions and ten arbitrary ones.
    let mut order: Vec<usize> = (0..flat_g.len()).collect();
    order.sort_by(|&i, &j| flat_g[j].abs().total_cmp(&flat_g[i].abs()));
    let picks: Vec<usize> = order[..10].iter().copied().chain((0..10).map(|k| k * 977 % flat_g.len())).collect();
    let h = 1e-5;
    for i in picks {
        let bump = |s: f64| {
            let mut v = floats(&a);
            v[i] += s * h;
            Tensor::from_slice(&v).reshape(a.size())
        };
        let fd = (objective(&bump(1.0)) - objective(&bump(-1.0))) / (2.0 * h);
        assert!(
            (fd - flat_g[i]).abs() < 1e-6 + 1e-4 * fd.abs(),
            "element {i}: finite difference {fd}, gradient {}",
            flat_g[i]
        );
    }
}

/// Points of one sample as a 1×C×1 tensor.
fn points(v: &[f32]) -> Tensor {
    Tensor::from_slice(v).reshape([1, v.len() as i64, 1])
}

#[test]
fn kmeans_follows_the_medoid_steps_by_hand() {
    // Points 0, 0, 5, 9, 10 from centres 0 (index 0) and 0 (index 1). Iteration 1: the tie sends every
    // point to centre 0; its mean 4.8 is nearest 5 (index 2); cluster 1 is empty and keeps its old
    // centre, the free point 0 (index 0). Iteration 2 against 5 and 0: labels 1,1,0,0,0; means 8 → 9,
    // 0 → 0. Iteration 3 repeats them: shift 0, stop.
    let x = points(&[0.0, 0.0, 5.0, 9.0, 10.0]);
    let init = Tensor::from_slice(&[0i64, 1]).reshape([1, 2]);
    assert_eq!(longs(&kmeans(&x, &init, 50, 1e-4)), vec![1, 1, 0, 0, 0]);
    // With one iteration the labels are that iteration's assignment, made against the initial centres.
    assert_eq!(longs(&kmeans(&x, &init, 1, 1e-4)), vec![0, 0, 0, 0, 0]);
}

/// docs/methods.md §2.4 written out literally for one sample (f64, per point), the reference for the test
/// below; also says whether any argmin was a near-tie (a two-point cluster's mean is equidistant from
/// both), which float rounding may break either way in any implementation.
fn reference_kmeans(x: &[Vec<f64>], init: &[usize], max_iter: usize, tol: f64) -> (Vec<usize>, bool) {
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>();
    let tied = std::cell::Cell::new(false);
    let argmin = |v: &[f64]| {
        let best = (0..v.len()).fold(0, |best, i| if v[i] < v[best] { i } else { best });
        if (0..v.len()).any(|i| i != best && v[i] - v[best] <= 1e-6 * v[best].abs().max(1.0)) {
            tied.set(true);
        }
        best
    };
    let mut centres: Vec<usize> = init.to_vec();
    let mut labels = vec![0; x.len()];
    for _ in 0..max_iter {
        labels = x.iter().map(|p| argmin(&centres.iter().map(|&c| dist(p, &x[c])).collect::<Vec<_>>())).collect();
        let mut chosen: Vec<usize> = Vec::new();
        for (k, &old) in centres.iter().enumerate() {
            let members: Vec<&Vec<f64>> = x.iter().zip(&labels).filter(|(_, &l)| l == k).map(|(p, _)| p).collect();
            let target: Vec<f64> = if members.is_empty() {
                x[old].clone()
            } else {
                (0..x[0].len()).map(|d| members.iter().map(|p| p[d]).sum::<f64>() / members.len() as f64).collect()
            };
            let scores: Vec<f64> = x
                .iter()
                .enumerate()
                .map(|(i, p)| if chosen.contains(&i) { f64::INFINITY } else { dist(p, &target) })
                .collect();
            chosen.push(argmin(&scores));
        }
        let shift: f64 = centres.iter().zip(&chosen).map(|(&a, &b)| dist(&x[a], &x[b]).sqrt()).sum();
        centres = chosen;
        if shift * shift < tol {
            break;
        }
    }
    (labels, tied.get())
}

#[test]
fn batched_kmeans_agrees_with_the_literal_per_sample_steps() {
    let (p, c, d, k) = (16usize, 48usize, 16usize, 6usize);
    let mut rng = rng_for(7, &[]);
    let mut data = vec![0f32; p * c * d];
    let mut inits = Vec::new();
    for s in 0..p {
        // Loose clusters so the medoids take several iterations to settle.
        let centres: Vec<Vec<f32>> =
            (0..4).map(|_| (0..d).map(|_| rand::Rng::gen_range(&mut rng, 0.0..4.0)).collect()).collect();
        for ch in 0..c {
            for j in 0..d {
                data[(s * c + ch) * d + j] = centres[ch % 4][j] + rand::Rng::gen_range(&mut rng, -1.5..1.5);
            }
        }
        let mut pool: Vec<usize> = (0..c).collect();
        robustcnn::rng::shuffle(&mut pool, &mut rng);
        inits.extend(pool[..k].iter().map(|&i| i as i64));
    }
    let x = Tensor::from_slice(&data).reshape([p as i64, c as i64, d as i64]);
    let init = Tensor::from_slice(&inits).reshape([p as i64, k as i64]);
    let got = longs(&kmeans(&x, &init, 50, 1e-4));
    let mut compared = 0;
    for s in 0..p {
        let pts: Vec<Vec<f64>> = (0..c).map(|ch| (0..d).map(|j| data[(s * c + ch) * d + j] as f64).collect()).collect();
        let init_s: Vec<usize> = inits[s * k..(s + 1) * k].iter().map(|&i| i as usize).collect();
        let (want, tied) = reference_kmeans(&pts, &init_s, 50, 1e-4);
        if tied {
            continue;
        }
        let want: Vec<i64> = want.into_iter().map(|l| l as i64).collect();
        assert_eq!(&got[s * c..(s + 1) * c], want.as_slice(), "sample {s}");
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} samples without a near-tie");
}

#[test]
fn masks_are_the_reverse_sigmoid_of_the_z_normalised_group_map_and_ones_without_importance() {
    // One sample, 3 channels of 2×2; channels 0 and 1 form group 0, channel 2 group 1, group 2 is empty.
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 1.0, 5.0, 1.0, 1.0, 1.0]).reshape([1, 3, 2, 2]);
    // α = mean gradient per channel: 0.5, 0.25 (group 0 importance 0.75 > 0) and −1 (group 1: none).
    let g =
        Tensor::from_slice(&[0.5f32, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, -1.0, -1.0, -1.0, -1.0]).reshape([1, 3, 2, 2]);
    let labels = Tensor::from_slice(&[0i64, 0, 1]).reshape([1, 3]);
    let m = floats(&inhibition_masks(&a, &g, &labels, 3, 1e-8));
    let cam: Vec<f64> = (0..4).map(|i| 0.5 * [1.0, 2.0, 3.0, 4.0][i] + 0.25 * [0.0, 1.0, 0.0, 1.0][i]).collect();
    let mean = cam.iter().sum::<f64>() / 4.0;
    let std = (cam.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    for i in 0..4 {
        let want = 1.0 / (1.0 + ((cam[i] - mean) / (std + 1e-8)).exp());
        assert!((m[i] - want).abs() < 1e-6 && (m[4 + i] - want).abs() < 1e-6, "position {i}: {} vs {want}", m[i]);
        assert_eq!(m[8 + i], 1.0, "the group with negative importance is not inhibited");
    }
    // The most salient position is inhibited most.
    assert!(m[3] < 0.5 && m[0] > 0.5);
}

#[test]
fn orthogonality_loss_matches_a_hand_computation() {
    // Sample 0: groups {0,1} and {2} (group 2 empty): one pair, |⟨mean(A0,A1), A2⟩|.
    // Sample 1: one group only: no pair, loss 0 (divided by 1).
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 0.0, 0.0, 4.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]).reshape([2, 3, 1, 2]);
    let labels = Tensor::from_slice(&[0i64, 0, 1, 1, 1, 1]).reshape([2, 3]);
    let got = orthogonality(&a, &labels, 3).double_value(&[]);
    let u0 = [(1.0 + 3.0) / 2.0, (2.0 + 0.0) / 2.0];
    let want = ((u0[0] * 0.0 + u0[1] * 4.0) + 0.0) / 2.0;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn tenet_steps_from_the_switch_iteration_on_every_kth_iteration() {
    let t = Tenet { cfg: Default::default(), stage: 1 };
    let due: Vec<usize> = (0..520).filter(|&s| t.due(s)).collect();
    // Iterations t = step + 1: 501, 504, … (500 is not a multiple of 3).
    assert_eq!(&due[..3], &[500, 503, 506]);
}

fn tenet_step(sets: &[&str]) -> (Vec<(String, f64)>, i64, Tensor) {
    let (vs, net) = model();
    let mut sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    sets.extend(["method.tenet.switch=1".to_string(), "method.tenet.every=1".to_string()]);
    let mut cfg = Config::load(None, &sets).unwrap();
    methods::resolve(&mut cfg.method);
    let mut m = methods::build(&cfg.method, &net, 10).unwrap();
    let x = with_torch_seed(3, &[], || Tensor::rand([32, 1, 28, 28], (Kind::Float, Device::Cpu)));
    // Labels the untrained model already predicts, so every sample is a positive one.
    let y = tch::no_grad(|| net.forward(&x, true).argmax(-1, false));
    let ids: Vec<u64> = (0..32).collect();
    let mut opt = Optimizer::new(&vs, &OptimConfig { lr: 0.01, ..Default::default() });
    let mut ctx = StepContext::new(&net, &mut opt, 0.01, &ids);
    let out = m.train_step(&mut ctx, &x, &y).unwrap();
    let weights = tch::no_grad(|| net.forward(&x, false));
    (out.terms, opt.steps, weights)
}

#[test]
fn a_tenet_iteration_takes_a_second_update_on_the_positive_samples() {
    let (terms, steps, _) = tenet_step(&["method.name=\"tenet\""]);
    let term = |n: &str| terms.iter().find(|t| t.0 == n).map(|t| t.1);
    assert_eq!(steps, 2, "the plain update and the TENET update");
    assert!(term("tenet_samples").unwrap() > 1.0);
    assert!(term("tenet_ce").unwrap().is_finite() && term("tenet_orth").unwrap() >= 0.0);
    assert!(term("ce").is_some());
}

#[test]
fn free_at_with_tenet_runs_tenet_after_every_replay() {
    let (terms, steps, _) = tenet_step(&["method.name=\"free-at+tenet\"", "method.adversarial.replays=3"]);
    assert!(terms.iter().any(|t| t.0 == "tenet_ce"));
    assert!(terms.iter().any(|t| t.0 == "adv_ce"));
    // Every replay's update is followed by a TENET update (the batch stays correct at lr 0.01).
    assert_eq!(steps, 6, "3 replay updates, each followed by a TENET update");
}

#[test]
fn compositions_and_tenet_settings_are_checked() {
    let err = |sets: &[&str]| {
        Config::load(None, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err().to_string()
    };
    assert!(err(&["method.name=\"pgd-at+free-at\""]).contains("pgd-at and free-at cannot be combined"));
    assert!(err(&["method.name=\"tenet+tenet\""]).contains("tenet is named twice"));
    assert!(err(&["method.name=\"tenet+mixup\""]).contains("unknown method 'mixup'"));
    assert!(err(&["method.tenet.groups=4"]).contains("method.tenet.* is only used by the tenet method"));
    let tenet = "method.name=\"tenet\"";
    assert!(err(&[tenet, "method.tenet.groups=1"]).contains("method.tenet.groups must be at least 2"));
    assert!(err(&[tenet, "method.tenet.every=0"]).contains("method.tenet.every must be at least 1"));
    assert!(err(&[tenet, "method.tenet.lambda_orth=-1.0"]).contains("lambda_orth must be a non-negative number"));
    assert!(err(&[tenet, "method.tenet.stage=\"head\""]).contains("must be a convolutional stage"));
    assert!(Config::load(None, &["method.name=\"lfm+tenet\"".into()]).is_ok());
}

#[test]
fn an_interrupted_tenet_run_resumes_exactly() {
    let sets: Vec<String> = [
        "data.val_fraction=0.8",
        "data.batch_size=64",
        "train.steps=8",
        "train.log_every=1",
        "method.name=\"tenet\"",
        "method.tenet.switch=2",
        "method.tenet.every=2",
    ]
    .map(String::from)
    .to_vec();
    let cfg = Config::load(None, &sets).unwrap();
    let (_dir, whole, parts) = common::whole_and_resumed(&cfg, 5);
    let terms = common::logged;
    assert_eq!(terms(&whole, "tenet_ce").len(), 4, "TENET steps at t = 2, 4, 6, 8");
    assert_eq!(terms(&whole, "tenet_ce"), terms(&parts, "tenet_ce"));
    assert_eq!(terms(&whole, "ce"), terms(&parts, "ce"));
}
