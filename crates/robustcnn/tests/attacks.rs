//! Attacks on their contract (docs/methods.md §4.3): inside the budget and [0,1], eval mode,
//! stronger with more steps and budget, targets reached, and the gradient of the stated loss.
use robustcnn::attacks::{
    input_gradient, objective, parse_budget, start_noise, Apgd, ApgdEnsemble, Attack, AttackBatch, AttackRequest, Fgsm,
    LossKind, Norm, Pgd, Setting, Square, Target, ATTACKS,
};
use robustcnn::models::{self, ModelSpec, Network};
use tch::{Kind, Tensor};

mod common;
use common::model_and_batch;

fn accuracy(net: &Network, x: &Tensor, y: &Tensor) -> f64 {
    tch::no_grad(|| {
        net.forward(x, false).argmax(-1, false).eq_tensor(y).to_kind(Kind::Float).mean(Kind::Float).double_value(&[])
    })
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn every_attack_stays_in_its_budget_and_in_0_1_and_leaves_the_model_in_eval_mode() {
    let (p, x, y, ids) = model_and_batch(48);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 1 };
    let e = 8.0 / 255.0;
    let pgd = Pgd::linf(e, 2.0 / 255.0, 5, 10);
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(Fgsm { eps: e }),
        Box::new(pgd.clone()),
        Box::new(Pgd { restarts: 3, loss: LossKind::Cw, ..pgd.clone() }),
        Box::new(Pgd { target: Target::Random, loss: LossKind::Dlr, ..pgd.clone() }),
        Box::new(Pgd { norm: Norm::L2, eps: 0.5, alpha: 0.2, ..pgd.clone() }),
        Box::new(Apgd::ce(e, Norm::Linf, 8)),
        Box::new(Apgd::ce(0.5, Norm::L2, 8)),
        Box::new(Apgd::targeted(e, Norm::Linf, 4, 10)),
        Box::new(ApgdEnsemble::new(e, Norm::Linf, 4, 10)),
    ];
    let snapshot = || {
        let mut v: Vec<(String, Tensor)> = p.vs.variables().into_iter().map(|(n, t)| (n, t.copy())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let stats_before = snapshot();
    for a in &attacks {
        let adv = a.perturb(&p.net, &b).adv;
        assert_eq!(adv.size(), x.size(), "{}", a.label());
        assert!(adv.min().double_value(&[]) >= 0.0 && adv.max().double_value(&[]) <= 1.0, "{} left [0,1]", a.label());
        let d = (&adv - &x).reshape([48, -1]);
        let size = match a.norm() {
            Norm::Linf => max_abs(&d),
            Norm::L2 => d.norm_scalaropt_dim(2, [1i64].as_slice(), false).max().double_value(&[]),
        };
        assert!(size <= a.eps() * (1.0 + 1e-5) + 1e-7, "{}: perturbation {size} > ε {}", a.label(), a.eps());
        assert!(size > 0.0, "{} did not move any image", a.label());
    }
    // Eval mode: batch-norm running statistics are untouched by every attack.
    for ((name, s0), (_, s1)) in stats_before.iter().zip(&snapshot()) {
        assert_eq!(max_abs(&(s0 - s1)), 0.0, "{name} changed");
    }
}

/// The registry's contract, for every entry and every norm it is defined for: built from its
/// defaults (iteration counts cut to keep the test short), it stays in [0,1] and in the budget, and
/// flips a correctly classified point of the undefended model. A new entry is tested here without a
/// new test.
#[test]
fn every_registered_attack_keeps_its_contract() {
    let (p, x, y, ids) = model_and_batch(24);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 3 };
    let correct = tch::no_grad(|| p.net.forward(&x, false).argmax(-1, false).eq_tensor(&y));
    assert!(correct.sum(Kind::Int64).int64_value(&[]) > 0, "the model gets some points right");
    let short = |key: &str, value: &str| Setting {
        key: key.into(),
        value: value.into(),
        origin: format!("test {key}"),
        default: false,
    };
    let cheap = [short("steps", "5"), short("iters", "5"), short("targets", "2"), short("queries", "300")];
    for entry in ATTACKS {
        for &norm in entry.norms {
            let eps = if norm == Norm::Linf { 8.0 / 255.0 } else { 1.0 };
            let request = AttackRequest::parse(entry.name, "test").unwrap();
            let attack = request.build(eps, norm, 10, &cheap).unwrap();
            let name = format!("{} ({})", entry.name, norm.symbol());
            let adv = attack.perturb(&p.net, &b).adv;
            assert!(adv.min().double_value(&[]) >= 0.0 && adv.max().double_value(&[]) <= 1.0, "{name} left [0,1]");
            let d = (&adv - &x).reshape([24, -1]);
            let size = match norm {
                Norm::Linf => max_abs(&d),
                Norm::L2 => d.norm_scalaropt_dim(2, [1i64].as_slice(), false).max().double_value(&[]),
            };
            assert!(size <= eps * (1.0 + 1e-5) + 1e-7, "{name}: perturbation {size} > ε {eps}");
            let fooled =
                tch::no_grad(|| p.net.forward(&adv, false).argmax(-1, false).ne_tensor(&y).logical_and(&correct));
            assert!(fooled.sum(Kind::Int64).int64_value(&[]) > 0, "{name} flipped no correctly classified point");
        }
        // Every parameter's default is a value the entry accepts (built above); an unknown key is refused.
        let err = AttackRequest::parse(&format!("{}:no_such_key=1", entry.name), "--attack").err().unwrap();
        assert!(err.to_string().contains("has no parameter 'no_such_key'"), "{err}");
    }
}

/// Targeted attacks run through as many target classes as asked, up to the other classes: a default
/// above that is cut to them, a value the user gave is refused (the protocol records what ran).
#[test]
fn target_counts_are_what_was_asked_up_to_the_other_classes() {
    let spec = |name: &str, classes: i64| {
        AttackRequest::parse(name, "--attack").unwrap().spec(8.0 / 255.0, Norm::Linf, classes, &[]).unwrap()
    };
    for name in ["apgd-t", "fab-t", "autoattack"] {
        assert_eq!(spec(&format!("{name}:targets=20"), 100).target_count().unwrap(), 20, "{name}");
        assert_eq!(spec(name, 100).target_count().unwrap(), 9, "{name}");
        assert_eq!(spec(name, 5).target_count().unwrap(), 4, "{name}: the default of 9 on 5 classes");
        let e = spec(&format!("{name}:targets=10"), 10).target_count().unwrap_err().to_string();
        assert!(e.contains(&format!("--attack {name}:targets=10: this dataset has 10 classes, so at most 9")), "{e}");
    }
}

#[test]
fn accuracy_falls_from_clean_to_fgsm_to_pgd_and_with_the_budget() {
    let (p, x, y, ids) = model_and_batch(100);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 0 };
    let clean = accuracy(&p.net, &x, &y);
    let mut last = clean;
    for k in [2.0, 4.0, 8.0, 16.0] {
        let e = k / 255.0;
        let fgsm = accuracy(&p.net, &Fgsm { eps: e }.perturb(&p.net, &b).adv, &y);
        let pgd = accuracy(&p.net, &Pgd::linf(e, e / 4.0, 10, 10).perturb(&p.net, &b).adv, &y);
        assert!(fgsm < clean, "FGSM at {k}/255 did not lower accuracy ({fgsm} vs {clean})");
        assert!(pgd <= fgsm, "PGD {pgd} above FGSM {fgsm} at {k}/255");
        assert!(pgd <= last, "PGD accuracy rose with ε: {pgd} at {k}/255 after {last}");
        last = pgd;
    }
    let large = accuracy(&p.net, &Pgd::linf(32.0 / 255.0, 2.0 / 255.0, 30, 10).perturb(&p.net, &b).adv, &y);
    assert!(large < 0.25 * clean, "PGD-30 at 32/255 should break an undefended model: {large} of {clean}");
    // The AutoAttack-style ensemble can only lower what APGD-CE alone leaves.
    let e = 4.0 / 255.0;
    let ce = accuracy(&p.net, &Apgd::ce(e, Norm::Linf, 10).perturb(&p.net, &b).adv, &y);
    let both = accuracy(&p.net, &ApgdEnsemble::new(e, Norm::Linf, 10, 10).perturb(&p.net, &b).adv, &y);
    assert!(both <= ce && ce < clean, "clean {clean}, APGD-CE {ce}, APGD-CE + APGD-T {both}");
}

#[test]
fn targeted_pgd_reaches_its_target_on_an_undefended_model() {
    let (p, x, y, ids) = model_and_batch(64);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 3 };
    for target in [Target::Random, Target::Class(7), Target::LeastLikely] {
        let pgd = Pgd { target, ..Pgd::linf(64.0 / 255.0, 4.0 / 255.0, 50, 10) };
        let t = pgd.targets(&p.net, &b).unwrap();
        if let Target::Random = target {
            assert_eq!(t.ne_tensor(&y).all().int64_value(&[]), 1, "a random target is never the true class");
        }
        let pred = tch::no_grad(|| p.net.forward(&pgd.perturb(&p.net, &b).adv, false).argmax(-1, false));
        let hit = pred.eq_tensor(&t).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!(hit >= 0.8, "{target:?}: target reached on only {hit}");
    }
}

/// A tiny untrained model in double precision, so finite differences are exact enough to compare.
fn tiny_double_model() -> (tch::nn::VarStore, Network) {
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let spec = ModelSpec { in_channels: 1, num_classes: 10, mean: vec![0.5], std: vec![0.3] };
    let net = robustcnn::rng::with_torch_seed(2, &[], || models::build(&vs.root(), "small-cnn", &spec)).unwrap();
    vs.double();
    (vs, net)
}

#[test]
fn the_attack_gradient_is_the_gradient_of_the_stated_loss() {
    let (_vs, net) = tiny_double_model();
    let x = robustcnn::rng::with_torch_seed(4, &[], || Tensor::rand([2, 1, 12, 12], (Kind::Double, tch::Device::Cpu)));
    let y = Tensor::from_slice(&[3i64, 8]);
    let t = Tensor::from_slice(&[5i64, 1]);
    let h = 1e-6;
    for (loss, target) in [
        (LossKind::Ce, None),
        (LossKind::Cw, None),
        (LossKind::Dlr, None),
        (LossKind::Ce, Some(&t)),
        (LossKind::Cw, Some(&t)),
        (LossKind::Dlr, Some(&t)),
    ] {
        let (_, grad, _) = input_gradient(&net, &x, &y, target, loss, false);
        let total = |z: &Tensor| {
            tch::no_grad(|| objective(&net.forward(z, false), &y, target, loss).sum(Kind::Double).double_value(&[]))
        };
        for flat in [0i64, 17, 77, 143, 150, 287] {
            let e = Tensor::zeros([2 * 144], (Kind::Double, tch::Device::Cpu));
            let _ = e.get(flat).fill_(h);
            let e = e.reshape([2, 1, 12, 12]);
            let fd = (total(&(&x + &e)) - total(&(&x - &e))) / (2.0 * h);
            let g = grad.reshape([-1]).double_value(&[flat]);
            assert!(
                (fd - g).abs() <= 1e-6 + 1e-4 * g.abs(),
                "{loss:?} {:?} at {flat}: autograd {g}, finite difference {fd}",
                target.is_some()
            );
        }
    }
}

#[test]
fn objectives_match_their_formulas_on_hand_made_logits() {
    let z = Tensor::from_slice(&[2.0f32, 1.0, 0.0, -1.0, 0.0, 3.0, 1.0, 1.0]).reshape([2, 4]);
    let y = Tensor::from_slice(&[0i64, 2]);
    let t = Tensor::from_slice(&[3i64, 1]);
    let v = |loss, target: Option<&Tensor>| Vec::<f32>::try_from(objective(&z, &y, target, loss)).unwrap();
    let lse0 = (2f32.exp() + 1f32.exp() + 1.0 + (-1f32).exp()).ln();
    let lse1 = (1.0 + 3f32.exp() + 2.0 * 1f32.exp()).ln();
    let close =
        |a: Vec<f32>, b: [f32; 2]| assert!(a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-5), "{a:?} vs {b:?}");
    close(v(LossKind::Ce, None), [lse0 - 2.0, lse1 - 1.0]);
    close(v(LossKind::Ce, Some(&t)), [-(lse0 + 1.0), -(lse1 - 3.0)]);
    // CW: best other logit minus the true one; targeted: target minus best other.
    close(v(LossKind::Cw, None), [1.0 - 2.0, 3.0 - 1.0]);
    close(v(LossKind::Cw, Some(&t)), [-1.0 - 2.0, 3.0 - 1.0]);
    // DLR: −(z_y − max_{j≠y} z_j)/(z_π1 − z_π3); targeted: −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2).
    close(v(LossKind::Dlr, None), [-(2.0 - 1.0) / (2.0 - 0.0), -(1.0 - 3.0) / (3.0 - 1.0)]);
    close(v(LossKind::Dlr, Some(&t)), [-(2.0 + 1.0) / (2.0 + 0.5), -(1.0 - 3.0) / (3.0 - 0.5)]);
}

#[test]
fn random_starts_depend_on_the_sample_not_the_batch() {
    let like = Tensor::zeros([5, 3, 4, 4], (Kind::Float, tch::Device::Cpu));
    let all = start_noise(&like, &[10, 11, 12, 13, 14], 9, 0, false);
    let part = start_noise(&like.narrow(0, 0, 2), &[12, 13], 9, 0, false);
    assert_eq!(max_abs(&(all.narrow(0, 2, 2) - &part)), 0.0);
    assert!(max_abs(&all) <= 1.0 && max_abs(&all) > 0.9);
    let other_restart = start_noise(&like, &[10, 11, 12, 13, 14], 9, 1, false);
    assert!(max_abs(&(all - other_restart)) > 0.1);
    let g = start_noise(&Tensor::zeros([1, 1, 100, 100], (Kind::Float, tch::Device::Cpu)), &[0], 1, 0, true);
    let (m, s) = (g.mean(Kind::Float).double_value(&[]), g.std(true).double_value(&[]));
    assert!(m.abs() < 0.05 && (s - 1.0).abs() < 0.05, "Gaussian start: mean {m}, std {s}");
}

#[test]
fn budgets_are_numbers_or_fractions_and_nothing_else() {
    assert_eq!(parse_budget("8/255", "--eps").unwrap(), 8.0 / 255.0);
    assert_eq!(parse_budget(" 0.5 ", "--eps").unwrap(), 0.5);
    assert_eq!(parse_budget("0", "--eps").unwrap(), 0.0);
    for bad in ["-1/255", "-0.1", "abc", "8/0", "8/", "", "inf", "NaN"] {
        let e = parse_budget(bad, "--eps").unwrap_err().to_string();
        assert_eq!(e, format!("--eps {}: expected a non-negative number or a fraction such as 8/255", bad.trim()));
    }
}

#[test]
fn square_stays_in_its_query_budget_stops_on_fooled_points_and_follows_autoattacks_schedule() {
    let (p, x, y, ids) = model_and_batch(32);
    let square = Square { eps: 8.0 / 255.0, norm: Norm::Linf, queries: 200, p_init: 0.8, restarts: 1 };
    let (found, used) = square.run(&p.net, &x, &y, &ids, 5, 0);
    // The first evaluation plus at most one query per step, and none after a point is fooled.
    assert!(used.iter().all(|&q| (1..=201).contains(&q)), "{used:?}");
    let fooled =
        Vec::<bool>::try_from(tch::no_grad(|| p.net.forward(&found, false).argmax(-1, false).ne_tensor(&y))).unwrap();
    assert!(fooled.iter().any(|&f| f), "Square fooled no point of an undefended model in 200 queries");
    assert!(used.iter().zip(&fooled).any(|(&q, &f)| f && q < 201), "fooled points stop querying: {used:?}");
    assert!(max_abs(&(&found - &x)) <= 8.0 / 255.0 + 1e-6);
    // p halves on AutoAttack's steps: after 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 queries.
    let p_at: Vec<f64> = [0, 10, 11, 50, 51, 500, 501, 5000, 9000].iter().map(|&i| square.p_at(i)).collect();
    let expected = [0.8, 0.8, 0.4, 0.4, 0.2, 0.1, 0.05, 0.8 / 128.0, 0.8 / 512.0];
    assert!(p_at.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{p_at:?}");
    // Seeded: the same call gives the same images.
    let again = square.run(&p.net, &x, &y, &ids, 5, 0).0;
    assert!(again.equal(&found));
    // ℓ2: every point ends within the ε-ball, and the margin search fools points too.
    let l2 = Square { eps: 1.0, norm: Norm::L2, queries: 100, p_init: 0.8, restarts: 1 };
    let (found, used) = l2.run(&p.net, &x, &y, &ids, 5, 0);
    let norms = (&found - &x).reshape([32, -1]).norm_scalaropt_dim(2, [1i64].as_slice(), false);
    assert!(norms.max().double_value(&[]) <= 1.0 + 1e-4, "ℓ2 Square left the ball: {norms:?}");
    assert!(used.iter().all(|&q| (1..=101).contains(&q)), "{used:?}");
    let err = AttackRequest::parse("square:p_init=1.5", "--attack").unwrap().build(0.03, Norm::Linf, 10, &[]).err();
    assert!(err.unwrap().to_string().contains("--attack square:p_init=1.5: must be in (0, 1]"));
}
