//! The fused training-mode batch norm + ReLU (docs/precision.md, "Fused batch norm and ReLU") is
//! libtorch's batch_norm then relu, and the fused batch norm + residual + ReLU is batch_norm, add,
//! relu: the same output, running statistics and gradients, in float32 and bfloat16, with the ReLU's
//! mask applied to the gradient; other layouts go through libtorch.
use robustcnn_bridge::{batch_norm_add_relu, batch_norm_relu};
use tch::{Device, Kind, Tensor};

const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// A tensor of `shape` set by formula, around `mean` with spread `spread` (tests run in parallel
/// threads that share libtorch's generator).
fn formula(shape: &[i64], phase: f64, mean: f64, spread: f64) -> Tensor {
    let n: i64 = shape.iter().product();
    ((Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.731 + phase).sin() * spread + mean).reshape(shape)
}

fn channels_last(t: Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// What one forward and backward pass gives: output, input/weight/bias gradients, running mean and
/// variance, and the residual's gradient where there is one.
struct Outcome {
    y: Tensor,
    dx: Tensor,
    dw: Tensor,
    db: Tensor,
    running: (Tensor, Tensor),
    ds: Option<Tensor>,
}

/// One pass, fused or libtorch's, on `x` (plus the residual `s`, if any) in `kind` (float64 gives
/// the exact answer), with γ, β and the upstream gradient set by formula.
fn pass_with(x: &Tensor, s: Option<&Tensor>, kind: Kind, fused: bool) -> Outcome {
    let c = x.size()[1];
    let params = if kind == Kind::Double { Kind::Double } else { Kind::Float };
    let x = x.to_kind(kind).detach().set_requires_grad(true);
    let s = s.map(|s| s.to_kind(kind).detach().set_requires_grad(true));
    let w = formula(&[c], 0.3, 1.0, 0.5).to_kind(params).set_requires_grad(true);
    let b = formula(&[c], 1.1, 0.0, 0.8).to_kind(params).set_requires_grad(true);
    let (rm, rv) = (formula(&[c], 0.2, 0.1, 0.1).to_kind(params), formula(&[c], 0.5, 1.0, 0.2).to_kind(params));
    let y = match (&s, fused) {
        (None, true) => batch_norm_relu(&x, (Some(&w), Some(&b)), (&rm, &rv), EPS, MOMENTUM).unwrap(),
        (Some(s), true) => batch_norm_add_relu(&x, s, (Some(&w), Some(&b)), (&rm, &rv), EPS, MOMENTUM).unwrap(),
        (s, false) => {
            let y = Tensor::batch_norm(&x, Some(&w), Some(&b), Some(&rm), Some(&rv), true, MOMENTUM, EPS, false);
            s.as_ref().map_or(y.shallow_clone(), |s| y + s).relu()
        }
    };
    let dy = formula(&y.size(), 2.0, 0.0, 1.0).to_kind(kind);
    let mut inputs = vec![&x, &w, &b];
    inputs.extend(&s);
    let mut grads = Tensor::run_backward(&[(&y * &dy).sum(Kind::Float)], &inputs, false, false).into_iter();
    let float = |t: Tensor| t.to_kind(Kind::Float);
    let mut next = || float(grads.next().unwrap());
    let (dx, dw, db) = (next(), next(), next());
    let ds = s.map(|_| next());
    Outcome { y: float(y), dx, dw, db, running: (float(rm), float(rv)), ds }
}

/// [`pass_with`] without a residual: batch norm + ReLU.
fn pass(x: &Tensor, kind: Kind, fused: bool) -> Outcome {
    pass_with(x, None, kind, fused)
}

/// Largest |a − b| relative to the largest |b|.
fn relative_gap(a: &Tensor, b: &Tensor) -> f64 {
    let gap = (a - b).abs().max().double_value(&[]);
    gap / b.abs().max().double_value(&[]).max(1e-12)
}

/// Each of `fused`'s results is within `floor`, or within twice libtorch's own gap, of `exact`.
fn assert_as_close_as_libtorch(name: &str, fused: &Outcome, libtorch: &Outcome, exact: &Outcome, floor: f64) {
    for (what, f, l, e) in [
        ("output", &fused.y, &libtorch.y, &exact.y),
        ("input gradient", &fused.dx, &libtorch.dx, &exact.dx),
        ("weight gradient", &fused.dw, &libtorch.dw, &exact.dw),
        ("bias gradient", &fused.db, &libtorch.db, &exact.db),
        ("running mean", &fused.running.0, &libtorch.running.0, &exact.running.0),
        ("running variance", &fused.running.1, &libtorch.running.1, &exact.running.1),
    ] {
        assert_gap_within(name, what, f, l, e, floor);
    }
    if let (Some(f), Some(l), Some(e)) = (&fused.ds, &libtorch.ds, &exact.ds) {
        assert_gap_within(name, "residual gradient", f, l, e, floor);
    }
}

/// `fused` is within `floor`, or within twice libtorch's own gap, of `exact`.
fn assert_gap_within(name: &str, what: &str, fused: &Tensor, libtorch: &Tensor, exact: &Tensor, floor: f64) {
    let (ours, theirs) = (relative_gap(fused, exact), relative_gap(libtorch, exact));
    assert!(
        ours <= (2.0 * theirs).max(floor),
        "{name}: {what} is {ours:e} from the exact value (relative to its largest), libtorch's {theirs:e}"
    );
}

#[test]
fn fused_batch_norm_relu_is_batch_norm_then_relu_in_float32() {
    for (name, x) in [
        ("channels-last 4-D", channels_last(formula(&[6, 16, 5, 7], 0.0, 3.0, 2.0))),
        ("far from zero", channels_last(formula(&[4, 8, 3, 3], 0.4, 100.0, 1.0))),
        ("2-D", formula(&[40, 12], 0.9, -0.5, 1.5)),
        ("NCHW, through libtorch", formula(&[3, 5, 4, 4], 0.7, 0.5, 1.0)),
    ] {
        let exact = pass(&x, Kind::Double, false);
        assert_as_close_as_libtorch(name, &pass(&x, Kind::Float, true), &pass(&x, Kind::Float, false), &exact, 1e-5);
    }
}

#[test]
fn fused_batch_norm_relu_in_bfloat16_is_as_close_to_exact_as_libtorchs() {
    let x = channels_last(formula(&[8, 32, 6, 6], 0.0, 1.0, 2.0));
    // Both take the same bfloat16 input; the float64 pass on it is the exact answer for both.
    let input = x.to_kind(Kind::BFloat16).to_kind(Kind::Float);
    let exact = pass(&input, Kind::Double, false);
    let fused = pass(&input, Kind::BFloat16, true);
    let libtorch = pass(&input, Kind::BFloat16, false);
    // One bfloat16 rounding is 2⁻⁹ relative at most: allow two.
    assert_as_close_as_libtorch("bfloat16", &fused, &libtorch, &exact, 2.0f64.powi(-8));
}

#[test]
fn without_an_affine_part_it_is_plain_normalisation_then_relu() {
    let x = channels_last(formula(&[4, 6, 3, 5], 0.2, 2.0, 3.0));
    let rm = Tensor::zeros([6], (Kind::Float, Device::Cpu));
    let rv = Tensor::ones([6], (Kind::Float, Device::Cpu));
    let y = batch_norm_relu(&x, (None, None), (&rm, &rv), EPS, MOMENTUM).unwrap();
    let expected = Tensor::batch_norm(
        &x,
        None::<Tensor>,
        None::<Tensor>,
        None::<Tensor>,
        None::<Tensor>,
        true,
        MOMENTUM,
        EPS,
        false,
    )
    .relu();
    assert!(relative_gap(&y, &expected) <= 1e-5);
}

#[test]
fn one_value_per_channel_is_libtorchs_error() {
    let x = channels_last(formula(&[1, 4, 1, 1], 0.0, 0.0, 1.0));
    let (rm, rv) = (Tensor::zeros([4], (Kind::Float, Device::Cpu)), Tensor::ones([4], (Kind::Float, Device::Cpu)));
    let Err(err) = batch_norm_relu(&x, (None, None), (&rm, &rv), EPS, MOMENTUM) else { panic!("one value accepted") };
    assert!(err.contains("Expected more than 1 value per channel when training"), "{err}");
    assert_eq!(Vec::<f32>::try_from(&rm).unwrap(), vec![0.0; 4], "running statistics untouched by a refused call");
}

#[test]
fn fused_batch_norm_add_relu_is_batch_norm_add_relu_in_float32() {
    for (name, x, s) in [
        (
            "channels-last 4-D",
            channels_last(formula(&[6, 16, 5, 7], 0.0, 3.0, 2.0)),
            channels_last(formula(&[6, 16, 5, 7], 1.3, 0.0, 1.5)),
        ),
        ("2-D", formula(&[40, 12], 0.9, -0.5, 1.5), formula(&[40, 12], 0.1, 0.2, 1.0)),
        (
            "residual in NCHW, copied into x's layout",
            channels_last(formula(&[4, 8, 3, 5], 0.4, 1.0, 1.0)),
            formula(&[4, 8, 3, 5], 2.2, -0.3, 1.2),
        ),
        ("NCHW, through libtorch", formula(&[3, 5, 4, 4], 0.7, 0.5, 1.0), formula(&[3, 5, 4, 4], 0.6, 0.0, 1.0)),
    ] {
        let exact = pass_with(&x, Some(&s), Kind::Double, false);
        let fused = pass_with(&x, Some(&s), Kind::Float, true);
        assert!(fused.ds.is_some(), "{name}: the residual gets a gradient");
        assert_as_close_as_libtorch(name, &fused, &pass_with(&x, Some(&s), Kind::Float, false), &exact, 1e-5);
    }
}

#[test]
fn fused_batch_norm_add_relu_in_bfloat16_is_as_close_to_exact_as_libtorchs() {
    let x = channels_last(formula(&[8, 32, 6, 6], 0.0, 1.0, 2.0));
    let s = channels_last(formula(&[8, 32, 6, 6], 0.8, 0.1, 1.0));
    // Both take the same bfloat16 inputs; the float64 pass on them is the exact answer for both.
    let exactly = |t: &Tensor| t.to_kind(Kind::BFloat16).to_kind(Kind::Float);
    let (x, s) = (exactly(&x), exactly(&s));
    let exact = pass_with(&x, Some(&s), Kind::Double, false);
    let fused = pass_with(&x, Some(&s), Kind::BFloat16, true);
    let libtorch = pass_with(&x, Some(&s), Kind::BFloat16, false);
    assert_as_close_as_libtorch("bfloat16", &fused, &libtorch, &exact, 2.0f64.powi(-8));
}

#[test]
fn the_residuals_gradient_is_the_outputs_where_the_output_is_positive() {
    // bfloat16 copies the upstream gradient exactly: ds is dy masked by y > 0, bit for bit.
    let x = channels_last(formula(&[4, 16, 4, 4], 0.3, 0.0, 2.0)).to_kind(Kind::BFloat16);
    let s = channels_last(formula(&[4, 16, 4, 4], 1.7, 0.0, 1.0)).to_kind(Kind::BFloat16).set_requires_grad(true);
    let (rm, rv) = (Tensor::zeros([16], (Kind::Float, Device::Cpu)), Tensor::ones([16], (Kind::Float, Device::Cpu)));
    let y = batch_norm_add_relu(&x, &s, (None, None), (&rm, &rv), EPS, MOMENTUM).unwrap();
    let dy = formula(&y.size(), 2.0, 0.0, 1.0).to_kind(Kind::BFloat16);
    let ds = Tensor::run_backward(&[(&y * &dy).sum(Kind::Float)], &[&s], false, false).remove(0);
    let expected = dy.where_self(&y.gt(0.0), &dy.zeros_like());
    assert!(ds.equal(&expected), "ds is not dy masked by the output");
    assert!(y.le(0.0).any().int64_value(&[]) == 1 && y.gt(0.0).any().int64_value(&[]) == 1, "both sides of the mask");
}

#[test]
fn a_residual_of_another_type_goes_through_libtorch() {
    let x = channels_last(formula(&[4, 6, 3, 5], 0.2, 2.0, 3.0));
    let s = channels_last(formula(&[4, 6, 3, 5], 0.9, 0.0, 1.0)).to_kind(Kind::Double);
    let fresh = || (Tensor::zeros([6], (Kind::Float, Device::Cpu)), Tensor::ones([6], (Kind::Float, Device::Cpu)));
    let ((rm, rv), (rm2, rv2)) = (fresh(), fresh());
    let y = batch_norm_add_relu(&x, &s, (None, None), (&rm, &rv), EPS, MOMENTUM).unwrap();
    let bn =
        Tensor::batch_norm(&x, None::<&Tensor>, None::<&Tensor>, Some(&rm2), Some(&rv2), true, MOMENTUM, EPS, false);
    let expected = (bn + &s).relu();
    assert_eq!(y.kind(), Kind::Double, "libtorch's type promotion");
    assert!(y.equal(&expected) && rm.equal(&rm2) && rv.equal(&rv2));
}

#[test]
fn the_fused_loops_run_on_every_libtorch_thread() {
    // at::parallel_for is inline: a bridge built without OpenMP would run them on one thread.
    tch::set_num_threads(2);
    assert_eq!(robustcnn_bridge::parallel_loop_threads(), 2);
}
