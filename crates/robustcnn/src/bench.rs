//! Speed and memory benchmark: training-step, inference and input-gradient throughput on random data.
use crate::config::OptimConfig;
use crate::error::Result;
use crate::models::{self, ModelSpec};
use crate::train::optim::Optimizer;
use serde::Serialize;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Throughput of one model at one batch size.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub model: String,
    pub batch: i64,
    pub input: [i64; 3],
    pub threads: i32,
    pub train_images_per_s: f64,
    /// Forward + backward alone on the same graph: raw libtorch autograd, no optimizer, no loop.
    pub forward_backward_images_per_s: f64,
    /// One optimizer update, in milliseconds.
    pub optimizer_step_ms: f64,
    pub inference_images_per_s: f64,
    pub input_gradient_images_per_s: f64,
    pub peak_rss_mib: f64,
}

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn timed(iters: usize, warmup: usize, batch: i64, device: Device, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    sync(device);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(device);
    (iters as i64 * batch) as f64 / t.elapsed().as_secs_f64()
}

/// `model` for 10 classes and inputs of shape `input`, with seeded initial weights.
fn seeded_model(model: &str, input: [i64; 3], device: Device) -> Result<(VarStore, models::Network)> {
    let vs = VarStore::new(device);
    let c = input[0] as usize;
    let spec = ModelSpec { in_channels: input[0], num_classes: 10, mean: vec![0.5; c], std: vec![0.25; c] };
    let net = crate::rng::with_torch_seed(0, &[], || models::build(&vs.root(), model, &spec))?;
    Ok((vs, net))
}

/// Measures `model` at `batch` on random inputs of shape `input` (C, H, W) with 10 classes.
pub fn run(model: &str, batch: i64, input: [i64; 3], iters: usize, device: Device) -> Result<BenchResult> {
    let (vs, net) = seeded_model(model, input, device)?;
    let x = Tensor::rand([batch, input[0], input[1], input[2]], (Kind::Float, device));
    let y = Tensor::randint(10, [batch], (Kind::Int64, device));
    let mut opt = Optimizer::new(&vs, &OptimConfig::default());
    let warmup = 3;
    let train = timed(iters, warmup, batch, device, || {
        let loss = net.forward(&x, true).cross_entropy_for_logits(&y);
        opt.zero_grad();
        loss.backward();
        opt.step(0.01);
    });
    let fwd_bwd = timed(iters, warmup, batch, device, || {
        net.forward(&x, true).cross_entropy_for_logits(&y).backward();
    });
    let opt_ms = 1000.0 * batch as f64 / timed(iters, warmup, batch, device, || opt.step(0.01));
    let infer = timed(iters, warmup, batch, device, || {
        let _ = tch::no_grad(|| net.forward(&x, false));
    });
    let grad = timed(iters, warmup, batch, device, || {
        let xg = x.detach().set_requires_grad(true);
        let loss = net.forward(&xg, false).cross_entropy_for_logits(&y);
        let _ = Tensor::run_backward(&[loss], &[&xg], false, false);
    });
    Ok(BenchResult {
        model: model.to_string(),
        batch,
        input,
        threads: tch::get_num_threads(),
        train_images_per_s: train,
        forward_backward_images_per_s: fwd_bwd,
        optimizer_step_ms: opt_ms,
        inference_images_per_s: infer,
        input_gradient_images_per_s: grad,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Attack throughput of one model at one batch size.
#[derive(Clone, Debug, Serialize)]
pub struct AttackBenchResult {
    pub model: String,
    pub batch: i64,
    pub input: [i64; 3],
    pub threads: i32,
    pub fgsm_images_per_s: f64,
    /// PGD-10, ℓ∞, ε 8/255, α 2/255, random start (the reference setting).
    pub pgd10_images_per_s: f64,
    pub peak_rss_mib: f64,
}

/// Times the real FGSM and PGD-10 attacks on random images with the model in eval mode.
pub fn attacks(model: &str, batch: i64, input: [i64; 3], iters: usize, device: Device) -> Result<AttackBenchResult> {
    use crate::attacks::{Attack, AttackBatch, Fgsm, Pgd};
    let (_vs, net) = seeded_model(model, input, device)?;
    let (x, y) = crate::rng::with_torch_seed(0, &[1], || {
        (
            Tensor::rand([batch, input[0], input[1], input[2]], (Kind::Float, device)),
            Tensor::randint(10, [batch], (Kind::Int64, device)),
        )
    });
    let ids: Vec<u64> = (0..batch as u64).collect();
    let b = AttackBatch { x: &x, y: &y, ids: &ids, seed: 0 };
    let fgsm = Fgsm { eps: 8.0 / 255.0 };
    let pgd = Pgd::linf(8.0 / 255.0, 2.0 / 255.0, 10, 10);
    let fgsm_rate = timed(iters, 3, batch, device, || {
        let _ = fgsm.perturb(&net, &b);
    });
    let pgd_rate = timed(iters.div_ceil(5).max(2), 1, batch, device, || {
        let _ = pgd.perturb(&net, &b);
    });
    Ok(AttackBenchResult {
        model: model.to_string(),
        batch,
        input,
        threads: tch::get_num_threads(),
        fgsm_images_per_s: fgsm_rate,
        pgd10_images_per_s: pgd_rate,
        peak_rss_mib: peak_rss_mib(),
    })
}
