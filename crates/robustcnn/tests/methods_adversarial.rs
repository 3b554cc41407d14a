//! Adversarial-training methods on their mechanism: PGD-AT trains on examples of higher loss, free-AT
//! replays each batch m times with a perturbation kept inside the ε-ball and carried across batches
//! (and across a resume), a non-finite loss is reported by its term before any weight changes, and
//! the recipe's method settings are resolved and checked.
mod common;
use robustcnn::config::{AdversarialConfig, Config, OptimConfig};
use robustcnn::methods::{self, StepContext};
use robustcnn::models::{self, ModelSpec, Network};
use robustcnn::train::optim::Optimizer;
use robustcnn::Error;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn model() -> (VarStore, Network) {
    let vs = VarStore::new(Device::Cpu);
    let spec = ModelSpec { in_channels: 1, num_classes: 10, mean: vec![0.3], std: vec![0.3] };
    let net = robustcnn::rng::with_torch_seed(1, &[], || models::build(&vs.root(), "small-cnn", &spec)).unwrap();
    (vs, net)
}

fn batch() -> (Tensor, Tensor, Vec<u64>) {
    let (x, y) = robustcnn::rng::with_torch_seed(2, &[], || {
        (
            Tensor::rand([16, 1, 28, 28], (Kind::Float, Device::Cpu)),
            Tensor::randint(10, [16], (Kind::Int64, Device::Cpu)),
        )
    });
    (x, y, (0..16).collect())
}

fn method(name: &str, sets: &[&str]) -> Box<dyn methods::Method> {
    let mut sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    sets.push(format!("method.name=\"{name}\""));
    let mut cfg = Config::load(None, &sets).unwrap();
    methods::resolve(&mut cfg.method);
    methods::build(&cfg.method, &model().1, 10).unwrap()
}

fn context<'a>(net: &'a Network, opt: &'a mut Optimizer, ids: &'a [u64]) -> StepContext<'a> {
    StepContext::new(net, opt, 0.01, ids)
}

#[test]
fn pgd_training_trains_on_examples_with_a_higher_loss_than_the_clean_ones() {
    let (vs, net) = model();
    let (x, y, ids) = batch();
    let clean = tch::no_grad(|| net.forward(&x, true).cross_entropy_for_logits(&y).double_value(&[]));
    let mut opt = Optimizer::new(&vs, &OptimConfig::default());
    let mut m = method("pgd-at", &["method.adversarial.eps=\"16/255\""]);
    let out = m.train_step(&mut context(&net, &mut opt, &ids), &x, &y).unwrap();
    let adv = out.terms.iter().find(|(n, _)| n == "adv_ce").unwrap().1;
    assert!(adv > clean, "adversarial CE {adv} should exceed clean CE {clean}");
    assert_eq!(opt.steps, 1);
}

#[test]
fn free_training_replays_each_batch_and_keeps_its_perturbation_in_the_ball() {
    let (vs, net) = model();
    let (x, y, ids) = batch();
    let mut opt = Optimizer::new(&vs, &OptimConfig::default());
    let mut m = method("free-at", &["method.adversarial.replays=3", "method.adversarial.eps=\"4/255\""]);
    m.train_step(&mut context(&net, &mut opt, &ids), &x, &y).unwrap();
    assert_eq!(opt.steps, 3, "one optimizer step per replay");
    let state = m.state();
    assert_eq!(state.len(), 1);
    let delta = &state[0].1;
    let e = 4.0 / 255.0;
    // Three signed steps of size ε, clipped to [−ε, ε]: every entry is −ε, 0 or ε (up to rounding).
    let off = (delta.abs() - e).abs().minimum(&delta.abs()).max().double_value(&[]);
    assert!(off < 1e-7, "δ has entries off {{−ε, 0, ε}} by {off}");
    assert!(delta.abs().max().double_value(&[]) > 0.0);
    // The perturbation is carried to the next batch: the same batch from δ = 0 (a fresh method, the
    // same weights) ends elsewhere.
    let next = x.flip([3]);
    let (vs_fresh, net_fresh) = model();
    vs_fresh.variables().iter().for_each(|(n, t)| {
        tch::no_grad(|| t.shallow_clone().copy_(&vs.variables()[n]));
    });
    let mut fresh = method("free-at", &["method.adversarial.replays=3", "method.adversarial.eps=\"4/255\""]);
    let mut opt_fresh = Optimizer::new(&vs_fresh, &OptimConfig::default());
    // Learning rate 0: the weights stay equal, so only δ's start differs between the two.
    fresh.train_step(&mut StepContext { lr: 0.0, ..context(&net_fresh, &mut opt_fresh, &ids) }, &next, &y).unwrap();
    m.train_step(&mut StepContext { lr: 0.0, ..context(&net, &mut opt, &ids) }, &next, &y).unwrap();
    assert_eq!(opt.steps, 6);
    let carried = (&m.state()[0].1 - &fresh.state()[0].1).abs().max().double_value(&[]);
    assert!(carried > 0.0, "δ after the second batch does not depend on the first batch's δ");
}

#[test]
fn a_non_finite_loss_names_its_term_and_leaves_the_weights_alone() {
    let (vs, net) = model();
    let (x, y, ids) = batch();
    let x = x * f64::NAN;
    let before: f64 = vs.trainable_variables().iter().map(|t| t.sum(Kind::Double).double_value(&[])).sum();
    let mut opt = Optimizer::new(&vs, &OptimConfig::default());
    for (name, term) in [("baseline", "cross-entropy"), ("free-at", "free adversarial cross-entropy")] {
        let err = method(name, &[]).train_step(&mut context(&net, &mut opt, &ids), &x, &y).err().unwrap();
        assert!(matches!(&err, Error::Diverged(m) if m == &format!("the {term} loss became NaN")), "{err}");
    }
    let after: f64 = vs.trainable_variables().iter().map(|t| t.sum(Kind::Double).double_value(&[])).sum();
    assert_eq!(before, after);
    assert_eq!(opt.steps, 0);
}

#[test]
fn method_settings_are_resolved_per_method_and_checked() {
    let resolved = |name: &str| {
        let mut c = Config::load(None, &[format!("method.name=\"{name}\"")]).unwrap();
        methods::resolve(&mut c.method);
        c
    };
    let adversarial = |c: &Config| c.method.get::<AdversarialConfig>().unwrap();
    let pgd = adversarial(&resolved("pgd-at"));
    assert_eq!((pgd.eps.unwrap().text, pgd.alpha.unwrap().text, pgd.steps), ("8/255".into(), "2/255".into(), Some(7)));
    let fast = adversarial(&resolved("fast-at"));
    assert_eq!((fast.alpha.unwrap().value, fast.steps), (10.0 / 255.0, Some(1)));
    let free = resolved("free-at");
    assert_eq!(adversarial(&free).replays, Some(8));
    // The resolved recipe round-trips through TOML with the fraction kept as written.
    let text = free.to_toml();
    assert!(text.contains("eps = \"8/255\""), "{text}");
    assert_eq!(Config::from_toml("run", &text).unwrap(), free);

    let err = |sets: &[&str]| {
        Config::load(None, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err().to_string()
    };
    assert!(err(&["method.name=\"trades\""])
        .contains("unknown method 'trades' (methods: baseline, lfm, pgd-at, fast-at, free-at, tenet, augmix"));
    assert!(err(&["method.adversarial.eps=0.03"])
        .contains("method.adversarial.* is only used by pgd-at, fast-at and free-at"));
    assert!(err(&["method.name=\"free-at\"", "method.adversarial.replays=0"])
        .contains("method.adversarial.replays must be at least 1"));
    assert!(err(&["method.name=\"pgd-at\"", "method.adversarial.eps=\"-8/255\""])
        .contains("-8/255: expected a non-negative number or a fraction such as 8/255"));
    assert!(
        err(&["method.name=\"pgd-at\"", "method.adversarial.replays=4"]).contains("replays only applies to free-at")
    );
}

#[test]
fn an_interrupted_free_training_run_resumes_exactly() {
    let cfg = Config::load(
        None,
        &[
            "data.val_fraction=0.8".into(),
            "data.batch_size=64".into(),
            "train.steps=8".into(),
            "train.log_every=1".into(),
            "method.name=\"free-at\"".into(),
            "method.adversarial.replays=2".into(),
        ],
    )
    .unwrap();
    // Step 5 is inside the first epoch, so δ is mid-flight when the run stops.
    let (_dir, whole, parts) = common::whole_and_resumed(&cfg, 5);
    assert_eq!(common::logged(&whole, "adv_ce").len(), 8);
    assert_eq!(common::logged(&whole, "adv_ce"), common::logged(&parts, "adv_ce"));
}
