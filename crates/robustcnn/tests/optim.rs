//! The optimizers against PyTorch's update rules, the schedules against their formulas.
use robustcnn::config::{OptimConfig, OptimName, Schedule};
use robustcnn::train::optim::Optimizer;
use robustcnn::train::schedule::lr_at;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn one_param(value: f64) -> (VarStore, Tensor) {
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root().var("w", &[1], tch::nn::Init::Const(value));
    (vs, p)
}

/// Sets the gradient of p to g by backpropagating g·p.
fn set_grad(p: &Tensor, g: f64) {
    (p * g).sum(Kind::Float).backward();
}

fn value(p: &Tensor) -> f64 {
    p.double_value(&[0])
}

#[test]
fn sgd_nesterov_with_weight_decay_matches_torch() {
    let cfg = OptimConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01, ..Default::default() };
    let (vs, p) = one_param(1.0);
    let mut opt = Optimizer::new(&vs, &cfg);
    // Step 1: g = 0.5 + 0.01·1 = 0.51; buf = 0.51; update = g + 0.9·buf = 0.969; p = 1 − 0.0969.
    opt.zero_grad();
    set_grad(&p, 0.5);
    opt.step(0.1);
    assert!((value(&p) - 0.9031).abs() < 1e-6, "{}", value(&p));
    // Step 2: g = 0.5 + 0.009031 = 0.509031; buf = 0.9·0.51 + g = 0.968031; update = g + 0.9·buf.
    opt.zero_grad();
    set_grad(&p, 0.5);
    opt.step(0.1);
    let g = 0.5 + 0.01 * 0.9031;
    let buf = 0.9 * 0.51 + g;
    let expected = 0.9031 - 0.1 * (g + 0.9 * buf);
    assert!((value(&p) - expected).abs() < 1e-6, "{} vs {expected}", value(&p));
}

#[test]
fn plain_momentum_uses_the_buffer() {
    let cfg = OptimConfig { lr: 1.0, momentum: 0.5, nesterov: false, weight_decay: 0.0, ..Default::default() };
    let (vs, p) = one_param(0.0);
    let mut opt = Optimizer::new(&vs, &cfg);
    for _ in 0..2 {
        opt.zero_grad();
        set_grad(&p, 1.0);
        opt.step(1.0);
    }
    // Updates 1 then 1.5.
    assert!((value(&p) + 2.5).abs() < 1e-6);
}

#[test]
fn adamw_matches_torch() {
    let cfg =
        OptimConfig { name: OptimName::Adamw, weight_decay: 0.1, betas: [0.9, 0.999], eps: 1e-8, ..Default::default() };
    let (vs, p) = one_param(2.0);
    let mut opt = Optimizer::new(&vs, &cfg);
    opt.zero_grad();
    set_grad(&p, 3.0);
    opt.step(0.01);
    // p ← 2·(1 − 0.001); m̂ = 3, v̂ = 9 ⇒ p −= 0.01·3/(3 + 1e-8).
    let expected = 2.0 * (1.0 - 0.01 * 0.1) - 0.01 * 3.0 / (3.0 + 1e-8);
    assert!((value(&p) - expected).abs() < 1e-6, "{} vs {expected}", value(&p));
    assert_eq!(opt.state().len(), 2);
}

#[test]
fn cosine_schedule_follows_the_formula() {
    let cfg = OptimConfig { lr: 0.1, min_lr: 1e-6, schedule: Schedule::Cosine, ..Default::default() };
    assert!((lr_at(&cfg, 0, 100, 10) - 0.1).abs() < 1e-12);
    let mid = 1e-6 + (0.1 - 1e-6) * 0.5;
    assert!((lr_at(&cfg, 50, 100, 10) - mid).abs() < 1e-12);
    assert!(lr_at(&cfg, 99, 100, 10) < 1e-3);
}

#[test]
fn warmup_and_step_schedules() {
    let cfg = OptimConfig {
        lr: 0.2,
        warmup_epochs: 1.0,
        schedule: Schedule::Step,
        milestones: vec![2.0, 3.0],
        gamma: 0.1,
        ..Default::default()
    };
    assert!((lr_at(&cfg, 0, 50, 10) - 0.02).abs() < 1e-12);
    assert!((lr_at(&cfg, 9, 50, 10) - 0.2).abs() < 1e-12);
    assert!((lr_at(&cfg, 15, 50, 10) - 0.2).abs() < 1e-12);
    assert!((lr_at(&cfg, 20, 50, 10) - 0.02).abs() < 1e-12);
    assert!((lr_at(&cfg, 35, 50, 10) - 0.002).abs() < 1e-12);
    let constant = OptimConfig { schedule: Schedule::Constant, lr: 0.3, ..Default::default() };
    assert_eq!(lr_at(&constant, 40, 50, 10), 0.3);
}

#[test]
fn the_backbone_learns_at_its_scale_of_the_rate_and_the_classifier_at_the_full_rate() {
    for name in [OptimName::Sgd, OptimName::Adamw] {
        let cfg = OptimConfig {
            name,
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
            backbone_lr_scale: 0.1,
            ..Default::default()
        };
        let vs = VarStore::new(Device::Cpu);
        let head = vs.root().sub("classifier").var("w", &[1], tch::nn::Init::Const(1.0));
        let body = vs.root().sub("layer1").var("w", &[1], tch::nn::Init::Const(1.0));
        let mut opt = Optimizer::new(&vs, &cfg);
        opt.zero_grad();
        set_grad(&head, 0.5);
        set_grad(&body, 0.5);
        opt.step(0.1);
        let (dh, db) = (1.0 - value(&head), 1.0 - value(&body));
        assert!(dh > 0.0 && (db - 0.1 * dh).abs() < 1e-7, "{name:?}: head moved {dh}, backbone {db}");
    }
}
