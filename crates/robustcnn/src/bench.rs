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

/// Step time of one training method relative to the plain (baseline) step on the same model and batch.
#[derive(Clone, Debug, Serialize)]
pub struct MethodBenchRow {
    pub model: String,
    pub batch: i64,
    pub method: String,
    pub ms_per_step: f64,
    /// ms_per_step over the baseline's.
    pub relative: f64,
}

/// A method's step on a resolved config, every after-update step (TENET) due on every iteration.
fn method_step_ms(
    name: &str,
    net: &models::Network,
    vs: &VarStore,
    (x, y): (&Tensor, &Tensor),
    iters: usize,
    device: Device,
) -> Result<f64> {
    use crate::config::Config;
    use crate::methods::{self, StepContext};
    let mut sets = vec![format!("method.name=\"{name}\"")];
    if name.contains("tenet") {
        sets.extend(["method.tenet.switch=1".to_string(), "method.tenet.every=1".to_string()]);
    }
    let mut cfg = Config::load(None, &sets)?;
    methods::resolve(&mut cfg.method);
    methods::bind(&mut cfg.method, net);
    let mut method = methods::build(&cfg.method, net, 10)?;
    // Views the loader would deliver (AugMix's two, CA's one), as random images: the step alone is timed.
    let extra = methods::loader_augment(&cfg.method, &[]);
    let views = if extra.augmix.as_ref().is_some_and(|a| a.jsd_views) {
        2
    } else {
        extra.ca.as_ref().is_some_and(|c| c.as_view) as usize
    };
    let views: Vec<Tensor> = (0..views).map(|_| x.rand_like()).collect();
    let mut opt = Optimizer::new(vs, &OptimConfig::default());
    let ids: Vec<u64> = (0..x.size()[0] as u64).collect();
    let mut step = 0;
    let mut failed = None;
    let rate = timed(iters, 2, x.size()[0], device, || {
        let mut ctx = StepContext::new(net, &mut opt, 1e-4, &ids);
        ctx.step = step;
        ctx.views = views.iter().map(|v| v.shallow_clone()).collect();
        if let Err(e) = method.train_step(&mut ctx, x, y) {
            failed = Some(e);
        }
        step += 1;
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(1000.0 * x.size()[0] as f64 / rate),
    }
}

/// Times each method's training step on random images labelled with the model's own predictions (so
/// TENET's positive set is the whole batch, its most expensive case), with TENET due every iteration.
/// The row `tenet grouping+masks` times the k-means and masks alone on that batch's feature maps.
pub fn methods(
    model: &str,
    batch: i64,
    input: [i64; 3],
    iters: usize,
    device: Device,
    names: &[String],
) -> Result<Vec<MethodBenchRow>> {
    use crate::methods::tenet;
    let (vs, net) = seeded_model(model, input, device)?;
    let x = crate::rng::with_torch_seed(0, &[1], || {
        Tensor::rand([batch, input[0], input[1], input[2]], (Kind::Float, device))
    });
    let y = tch::no_grad(|| net.forward(&x, true).argmax(-1, false));
    let plain = method_step_ms("baseline", &net, &vs, (&x, &y), iters, device)?;
    let row = |method: &str, ms: f64| MethodBenchRow {
        model: model.to_string(),
        batch,
        method: method.to_string(),
        ms_per_step: ms,
        relative: ms / plain,
    };
    let mut rows = vec![row("baseline", plain)];
    for name in names.iter().filter(|n| *n != "baseline") {
        rows.push(row(name, method_step_ms(name, &net, &vs, (&x, &y), iters, device)?));
    }
    if names.iter().any(|n| n.contains("tenet")) {
        let names = net.stages();
        let stage = names.len().saturating_sub(3);
        let (a, g) = tenet::importance_gradient(&net, &x, &y, stage);
        let (n, c, h, w) = a.size4().unwrap_or((0, 0, 0, 0));
        let rate = timed(iters, 2, batch, device, || {
            tch::no_grad(|| {
                let init = tenet::initial_centres(n, c, 6, 0, &[0], device);
                let labels = tenet::kmeans(&a.reshape([n, c, h * w]), &init, 50, 1e-4);
                let _ = tenet::inhibition_masks(&a, &g, &labels, 6, 1e-8);
            })
        });
        rows.push(row("tenet grouping+masks", 1000.0 * batch as f64 / rate));
    }
    Ok(rows)
}
