//! FAB, FAB-T and AutoAttack on their contract (docs/methods.md §4.3): FAB's projections equal
//! AutoAttack's own, FAB's perturbations are no larger than PGD's, AutoAttack runs its attacks in its
//! order on the points still robust and says which broke each, and its rand version equals the
//! standard APGD on a deterministic model.
use robustcnn::attacks::{
    fab_projection_l2, fab_projection_linf, Apgd, Attack, AttackBatch, AttackRequest, Fab, Norm, Pgd,
};
use tch::{Kind, Tensor};

mod common;
use common::model_and_batch;

fn matrix(v: &serde_json::Value) -> Tensor {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let flat: Vec<f32> = rows.concat();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, -1])
}

fn vector(v: &serde_json::Value) -> Tensor {
    Tensor::from_slice(&serde_json::from_value::<Vec<f32>>(v.clone()).unwrap())
}

fn wrong(net: &robustcnn::models::Network, x: &Tensor, y: &Tensor) -> Vec<bool> {
    Vec::<bool>::try_from(tch::no_grad(|| net.forward(x, false).argmax(-1, false).ne_tensor(y))).unwrap()
}

fn sizes(d: &Tensor, norm: Norm) -> Vec<f64> {
    let flat = d.reshape([d.size()[0], -1]);
    let s = match norm {
        Norm::Linf => flat.abs().amax([1i64].as_slice(), false),
        Norm::L2 => flat.norm_scalaropt_dim(2, [1i64].as_slice(), false),
    };
    Vec::<f64>::try_from(s.to_kind(Kind::Double)).unwrap()
}

/// A FAB projection: points, hyperplane normals and offsets to steps.
type Projection = fn(&Tensor, &Tensor, &Tensor) -> Tensor;

/// scripts/fab-projection-fixtures.py ran AutoAttack's projection_linf and projection_l2.
#[test]
fn fab_projections_match_autoattacks_reference() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fab_projections.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let projections: [(&str, Projection); 2] = [("linf", fab_projection_linf), ("l2", fab_projection_l2)];
    for (norm, project) in projections {
        let cases = v["cases"][norm].as_array().unwrap();
        assert!(cases.len() >= 20);
        for (i, case) in cases.iter().enumerate() {
            let (t, w, b) = (matrix(&case["t"]), matrix(&case["w"]), vector(&case["b"]));
            let d = project(&t, &w, &b);
            let expected = matrix(&case["d"]);
            let err = (&d - &expected).abs().max().double_value(&[]);
            assert!(err <= 1e-4, "{norm} case {i}: largest difference {err}\nours {d}\nreference {expected}");
            let moved = &t + &d;
            assert!(moved.min().double_value(&[]) >= -1e-5 && moved.max().double_value(&[]) <= 1.0 + 1e-5);
        }
    }
}

#[test]
fn fab_perturbations_are_no_larger_than_pgds_on_the_points_both_fool() {
    let (p, x, y, ids) = model_and_batch(48);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 2 };
    // Budgets large enough for PGD to fool most points of this small model.
    for (norm, eps) in [(Norm::Linf, 0.1), (Norm::L2, 3.0)] {
        let pgd = Pgd { norm, ..Pgd::linf(eps, eps / 4.0, 20, 10) };
        let pgd_adv = pgd.perturb(&p.net, &b).adv;
        // 20 iterations instead of AutoAttack's 100: the mean sizes found here differ by under 3 %.
        let fab = Fab { iters: 20, ..Fab::untargeted(eps, norm, 1) };
        let (fab_adv, res) = fab.minimal(&p.net, &x, &y, None, x.copy());
        let (pgd_size, fab_size) = (sizes(&(&pgd_adv - &x), norm), sizes(&(&fab_adv - &x), norm));
        let res = Vec::<f64>::try_from(res.to_kind(Kind::Double)).unwrap();
        let pgd_fooled = wrong(&p.net, &pgd_adv, &y);
        // FAB fools a point when its smallest adversarial perturbation is within the budget.
        let fab_wrong = wrong(&p.net, &fab_adv, &y);
        let fab_fooled: Vec<bool> = (0..48).map(|i| fab_wrong[i] && res[i] <= eps).collect();
        let clean_wrong = wrong(&p.net, &x, &y);
        let both: Vec<usize> = (0..48).filter(|&i| !clean_wrong[i] && pgd_fooled[i] && fab_fooled[i]).collect();
        assert!(both.len() >= 10, "{norm:?}: only {} points fooled by both", both.len());
        for &i in &both {
            assert!((fab_size[i] - res[i]).abs() <= 1e-5, "the recorded size is the image's");
            assert!(fab_size[i] <= pgd_size[i] + 1e-6, "{norm:?} point {i}: FAB {} > PGD {}", fab_size[i], pgd_size[i]);
        }
        let mean = |s: &[f64]| both.iter().map(|&i| s[i]).sum::<f64>() / both.len() as f64;
        assert!(
            mean(&fab_size) < 0.8 * mean(&pgd_size),
            "FAB is a minimal-norm attack: {} vs {}",
            mean(&fab_size),
            mean(&pgd_size)
        );
        // The attack proper keeps only points fooled within ε, and its images stay in the budget.
        let adv = Fab { iters: 10, ..fab }.perturb(&p.net, &b).adv;
        assert!(sizes(&(&adv - &x), norm).iter().all(|&s| s <= eps * (1.0 + 1e-6)));
    }
}

#[test]
fn autoattack_runs_its_attacks_in_order_on_the_points_still_robust() {
    let (p, x, y, ids) = model_and_batch(32);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 4 };
    let eps = 3.0 / 255.0;
    let build = |text: &str| AttackRequest::parse(text, "--attack").unwrap().build(eps, Norm::Linf, 10, &[]);
    let aa = build("autoattack:iters=10:targets=3:queries=100").unwrap();
    assert_eq!(aa.label(), "AutoAttack (standard, iters=10, targets=3, queries=100)");
    let out = aa.perturb(&p.net, &b);
    let stages = out.stages.unwrap();
    assert_eq!(stages.names, ["APGD-CE", "APGD-T", "FAB-T", "Square-100"]);
    let (clean_wrong, fooled) = (wrong(&p.net, &x, &y), wrong(&p.net, &out.adv, &y));
    for i in 0..32 {
        // Broken by a stage exactly when it was right on the clean image and is wrong under attack.
        assert_eq!(stages.broken_by[i].is_some(), !clean_wrong[i] && fooled[i], "point {i}");
    }
    // The first stage sees every point: what it broke is what APGD-CE alone fools.
    let alone = wrong(&p.net, &Apgd::ce(eps, Norm::Linf, 10).perturb(&p.net, &b).adv, &y);
    for i in 0..32 {
        assert_eq!(stages.broken_by[i] == Some(0), !clean_wrong[i] && alone[i], "point {i}");
    }
    assert!(stages.broken_by.iter().any(|s| s.is_some()), "some point falls");
    let plus = build("autoattack:version=plus:iters=5:targets=2:queries=50").unwrap();
    let names = plus.perturb(&p.net, &b).stages.unwrap().names;
    assert_eq!(names, ["APGD-CE", "APGD-DLR", "FAB", "Square-50", "APGD-T", "FAB-T"]);
    let err = build("autoattack:version=fast").err().unwrap().to_string();
    assert_eq!(err, "--attack autoattack:version=fast: expected standard, plus or rand");
    let err = AttackRequest::parse("autoattack", "--attack").unwrap().build(eps, Norm::Linf, 3, &[]).err().unwrap();
    assert!(err.to_string().contains("needs at least 4 classes; this dataset has 3"), "{err}");
}

#[test]
fn rand_on_a_deterministic_model_equals_the_standard_apgd() {
    let (p, x, y, ids) = model_and_batch(24);
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 6 };
    let eps = 4.0 / 255.0;
    let ce = Apgd::ce(eps, Norm::Linf, 8);
    let once = ce.perturb(&p.net, &b).adv;
    let averaged = Apgd { eot: 20, ..ce }.perturb(&p.net, &b).adv;
    assert!(once.equal(&averaged), "EoT over 20 identical gradients is the gradient");
    let build = |text: &str| AttackRequest::parse(text, "--attack").unwrap().build(eps, Norm::Linf, 10, &[]).unwrap();
    let rand = build("autoattack:version=rand:iters=8").perturb(&p.net, &b);
    let standard = build("autoattack:iters=8:targets=2:queries=20").perturb(&p.net, &b);
    let (r, s) = (rand.stages.unwrap(), standard.stages.unwrap());
    assert_eq!(r.names, ["APGD-CE", "APGD-DLR"]);
    let first = |v: &[Option<usize>]| v.iter().map(|b| *b == Some(0)).collect::<Vec<_>>();
    assert_eq!(first(&r.broken_by), first(&s.broken_by));
}
