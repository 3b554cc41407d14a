//! CPU bf16 convolutions and linear layers as fp32 products of bf16-rounded operands
//! (docs/precision.md, "CPUs without bf16 kernels") compute a bf16 kernel's arithmetic: products of
//! bf16 operands summed in fp32, rounded once to bf16, forward and backward. The kernels are
//! installed for the whole process, so this file is its own test binary.
use robustcnn::precision::{Autocast, Reduced};
use tch::{Device, Kind, Tensor};

/// `t` rounded to bf16, in `kind`.
fn rounded(t: &Tensor, kind: Kind) -> Tensor {
    t.to_kind(Kind::BFloat16).to_kind(kind)
}

/// Largest difference between `a` and `b`, in units of bf16's last place at each element of `b`
/// (at least `floor`, for elements near zero).
fn places(a: &Tensor, b: &Tensor, floor: f64) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    let place = b.abs().clamp_min(floor).log2().floor().exp2() / 128.0;
    ((a - &b).abs() / place).max().double_value(&[])
}

/// Output and the gradients of (output · probe).sum() with respect to each leaf (copies of `leaves`).
fn with_grads(leaves: &[&Tensor], probe: &Tensor, f: impl Fn(&[Tensor]) -> Tensor) -> (Tensor, Vec<Tensor>) {
    let xs: Vec<Tensor> = leaves.iter().map(|t| t.detach().set_requires_grad(true)).collect();
    let out = f(&xs);
    let loss = (out.to_kind(probe.kind()) * probe).sum(probe.kind());
    let grads = Tensor::run_backward(&[loss], &xs.iter().collect::<Vec<_>>(), false, false);
    (out.detach(), grads)
}

/// Checks `op` under CPU bf16 autocast against the exact result on bf16-rounded operands, rounded
/// once to bf16, forward and backward; `probe` weighs the output for the backward pass.
fn matches_exact_bf16(name: &str, leaves: &[&Tensor], probe: &Tensor, op: impl Fn(&[Tensor]) -> Tensor) {
    // The exact arithmetic: fp64 on bf16 operands; the backward pass gets a bf16 output gradient.
    let exact: Vec<Tensor> = leaves.iter().map(|t| rounded(t, Kind::Double)).collect();
    let (exact_out, exact_grads) = with_grads(&exact.iter().collect::<Vec<_>>(), &rounded(probe, Kind::Double), &op);
    let (out, grads) = with_grads(leaves, probe, |t| {
        let _bf16 = Autocast::enter(false, Reduced::BFloat16);
        op(t)
    });
    assert_eq!(out.kind(), Kind::BFloat16, "{name}: autocast's contract is bf16 out");
    let off = places(&out, &rounded(&exact_out, Kind::Double), 1e-3);
    assert!(off <= 1.0, "{name}: {off} bf16 places from the exact result");
    for (leaf, (g, e)) in ["input", "weight", "bias"].iter().zip(grads.iter().zip(&exact_grads)) {
        assert_eq!(g.kind(), Kind::Float, "{name} {leaf}: the gradient of an fp32 leaf is fp32");
        let off = places(g, &rounded(e, Kind::Double), 1e-3);
        assert!(off <= 1.0, "{name} {leaf} gradient: {off} bf16 places from the exact result");
    }
}

#[test]
fn emulated_bf16_convolutions_and_linear_layers_compute_bf16_arithmetic() {
    robustcnn_bridge::install_cpu_bf16_products().unwrap();
    tch::manual_seed(7);
    let opts = (Kind::Float, Device::Cpu);
    let (x, w, b) = (Tensor::randn([4, 8, 9, 9], opts), Tensor::randn([16, 8, 3, 3], opts), Tensor::randn([16], opts));
    matches_exact_bf16("conv2d", &[&x, &w, &b], &Tensor::randn([4, 16, 9, 9], opts), |t| {
        t[0].conv2d(&t[1], Some(&t[2]), [1], [1], [1], 1)
    });
    let (x, w, b) = (Tensor::randn([32, 64], opts), Tensor::randn([10, 64], opts), Tensor::randn([10], opts));
    matches_exact_bf16("linear", &[&x, &w, &b], &Tensor::randn([32, 10], opts), |t| t[0].linear(&t[1], Some(&t[2])));
    // Outside autocast nothing changes: fp32 in, fp32 out.
    assert_eq!(x.linear(&w, Some(&b)).kind(), Kind::Float);
}
