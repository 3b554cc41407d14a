//! Training-mode batch norm + ReLU, and batch norm + residual + ReLU, forward and backward, on
//! ResNet-20's three stage shapes at batch 128 (channels-last): libtorch's operations against the
//! bridge's fused functions (docs/precision.md, "Fused batch norm and ReLU"), interleaved, medians of
//! 15 rounds of 10 passes. Both sides include the same upstream product and sum.
//!
//!   cargo bench -p robustcnn --bench fused_bn_relu
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn channels_last(t: Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Median milliseconds per pass of `f`, and of `g`, measured in alternation.
fn interleaved(mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    for _ in 0..3 {
        f();
        g();
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        for (f, out) in [(&mut f as &mut dyn FnMut(), &mut a), (&mut g as &mut dyn FnMut(), &mut b)] {
            let t = Instant::now();
            for _ in 0..10 {
                f();
            }
            out.push(t.elapsed().as_secs_f64() * 100.0);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    (median(&mut a), median(&mut b))
}

fn main() {
    if let Err(e) = robustcnn::allocator::keep_freed_memory() {
        eprintln!("{e}");
    }
    tch::set_num_threads(2);
    println!(
        "libtorch threads: {} (fused loops on {}); batch 128, channels-last; forward + backward",
        tch::get_num_threads(),
        robustcnn_bridge::parallel_loop_threads()
    );
    println!("{:<6} {:<12} {:>8} {:>14} {:>10} {:>7}", "kind", "function", "C×H×W", "libtorch ms", "fused ms", "ratio");
    for (kind, name) in [(Kind::BFloat16, "bf16"), (Kind::Float, "fp32")] {
        for (c, hw) in [(16i64, 32i64), (32, 16), (64, 8)] {
            let shape = [128, c, hw, hw];
            let (aten, fused) = pair(kind, shape);
            println!(
                "{name:<6} {:<12} {:>8} {aten:>14.3} {fused:>10.3} {:>7.2}",
                "bn+relu",
                format!("{c}×{hw}×{hw}"),
                aten / fused
            );
            let (aten, fused) = with_residual(kind, shape);
            println!(
                "{name:<6} {:<12} {:>8} {aten:>14.3} {fused:>10.3} {:>7.2}",
                "bn+add+relu",
                format!("{c}×{hw}×{hw}"),
                aten / fused
            );
        }
    }
}

/// An input, upstream gradient, γ, β and running statistics of `shape`, set by formula.
fn operands(kind: Kind, shape: [i64; 4]) -> (Tensor, Tensor, Tensor, Tensor, (Tensor, Tensor)) {
    let cpu = (Kind::Float, Device::Cpu);
    let c = shape[1];
    let n: i64 = shape.iter().product();
    let x = channels_last(((Tensor::arange(n, cpu) * 0.731).sin() * 2.0 + 1.0).reshape(shape).to_kind(kind))
        .set_requires_grad(true);
    let dy = channels_last((Tensor::arange(n, cpu) * 0.377).cos().reshape(shape).to_kind(kind));
    let w = Tensor::ones([c], cpu).set_requires_grad(true);
    let b = Tensor::zeros([c], cpu).set_requires_grad(true);
    (x, dy, w, b, (Tensor::zeros([c], cpu), Tensor::ones([c], cpu)))
}

/// Batch norm + residual + ReLU: libtorch's three operations against the fused function, in ms.
fn with_residual(kind: Kind, shape: [i64; 4]) -> (f64, f64) {
    let (x, dy, w, b, (rm, rv)) = operands(kind, shape);
    let s = (&dy * 0.5).detach().set_requires_grad(true);
    let backward = |y: Tensor| {
        let _ = Tensor::run_backward(&[(y * &dy).sum(Kind::Float)], &[&x, &s, &w, &b], false, false);
    };
    interleaved(
        || {
            let y = Tensor::batch_norm(&x, Some(&w), Some(&b), Some(&rm), Some(&rv), true, 0.1, 1e-5, false);
            backward((y + &s).relu())
        },
        || {
            let y = robustcnn_bridge::batch_norm_add_relu(&x, &s, (Some(&w), Some(&b)), (&rm, &rv), 1e-5, 0.1)
                .expect("fused batch norm + residual + ReLU");
            backward(y)
        },
    )
}

/// Batch norm + ReLU: libtorch's two operations against the fused function, in ms.
fn pair(kind: Kind, shape: [i64; 4]) -> (f64, f64) {
    let (x, dy, w, b, (rm, rv)) = operands(kind, shape);
    let backward = |y: Tensor| {
        let _ = Tensor::run_backward(&[y], &[&x, &w, &b], false, false);
    };
    interleaved(
        || {
            let y = Tensor::batch_norm(&x, Some(&w), Some(&b), Some(&rm), Some(&rv), true, 0.1, 1e-5, false);
            backward((y.relu() * &dy).sum(Kind::Float))
        },
        || {
            let y = robustcnn_bridge::batch_norm_relu(&x, (Some(&w), Some(&b)), (&rm, &rv), 1e-5, 0.1)
                .expect("fused batch norm + ReLU");
            backward((y * &dy).sum(Kind::Float))
        },
    )
}
