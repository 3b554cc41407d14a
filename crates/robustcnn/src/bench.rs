//! Speed and memory benchmark: training-step, inference and input-gradient throughput on random data.
use crate::config::OptimConfig;
use crate::error::Result;
use crate::models::{self, ModelSpec};
use crate::precision::Precision;
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
    pub precision: Precision,
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

/// How many threads the fused batch-norm loops run on (docs/precision.md): libtorch's thread count
/// unless the bridge was built without OpenMP.
pub fn fused_loop_threads() -> i32 {
    robustcnn_bridge::parallel_loop_threads()
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
fn seeded_model(
    model: &str,
    input: [i64; 3],
    device: Device,
    precision: Precision,
) -> Result<(VarStore, models::Network)> {
    let vs = VarStore::new(device);
    let c = input[0] as usize;
    let spec = ModelSpec { in_channels: input[0], num_classes: 10, mean: vec![0.5; c], std: vec![0.25; c] };
    let net = crate::rng::with_torch_seed(0, &[], || models::build(&vs.root(), model, &spec))?;
    net.set_precision(precision);
    Ok((vs, net))
}

/// `batch` random images of shape `input` (C, H, W) in [0, 1) and random labels of 10 classes.
fn random_batch(batch: i64, input: [i64; 3], device: Device) -> (Tensor, Tensor) {
    (
        Tensor::rand([batch, input[0], input[1], input[2]], (Kind::Float, device)),
        Tensor::randint(10, [batch], (Kind::Int64, device)),
    )
}

/// One plain training step: forward, cross-entropy, backward and the SGD update.
fn train_step(net: &models::Network, opt: &mut Optimizer, x: &Tensor, y: &Tensor) {
    let loss = net.forward(x, true).cross_entropy_for_logits(y);
    opt.zero_grad();
    // Without a job to average over, the backward pass cannot fail; fp16 may skip a step.
    if opt.backward(&loss).unwrap_or(false) {
        opt.step(0.01);
    }
}

/// The seeded `model`, a random batch of `batch` inputs of shape `input`, and the default SGD over
/// the model's parameters (with fp16's loss scaler).
fn model_batch_and_optimizer(
    model: &str,
    batch: i64,
    input: [i64; 3],
    (device, precision): (Device, Precision),
) -> Result<(models::Network, Tensor, Tensor, Optimizer)> {
    let (vs, net) = seeded_model(model, input, device, precision)?;
    let (x, y) = random_batch(batch, input, device);
    let opt = Optimizer::new(&vs, &OptimConfig::default()).with_loss_scaler(precision == Precision::Fp16);
    Ok((net, x, y, opt))
}

/// Training-step throughput alone (images/s over `iters` steps after 3 warm-up steps) of `model`
/// at `batch` on random inputs of shape `input`, as in [`run`].
pub fn train_step_rate(
    model: &str,
    batch: i64,
    input: [i64; 3],
    iters: usize,
    (device, precision): (Device, Precision),
) -> Result<f64> {
    let (net, x, y, mut opt) = model_batch_and_optimizer(model, batch, input, (device, precision))?;
    Ok(timed(iters, 3, batch, device, || train_step(&net, &mut opt, &x, &y)))
}

/// Measures `model` at `batch` on random inputs of shape `input` (C, H, W) with 10 classes.
pub fn run(
    model: &str,
    batch: i64,
    input: [i64; 3],
    iters: usize,
    (device, precision): (Device, Precision),
) -> Result<BenchResult> {
    let (net, x, y, mut opt) = model_batch_and_optimizer(model, batch, input, (device, precision))?;
    let warmup = 3;
    let train = timed(iters, warmup, batch, device, || train_step(&net, &mut opt, &x, &y));
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
        precision,
        train_images_per_s: train,
        forward_backward_images_per_s: fwd_bwd,
        optimizer_step_ms: opt_ms,
        inference_images_per_s: infer,
        input_gradient_images_per_s: grad,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Data-parallel training throughput of one model (docs/distributed.md §5), as rank 0 measured it:
/// the training path (gradients averaged during the backward pass) next to averaging after it.
#[derive(Clone, Debug, Serialize)]
pub struct DataParallelResult {
    pub model: String,
    pub ranks: usize,
    /// Per-rank batch; the global batch is `ranks` times it.
    pub batch: i64,
    pub threads: i32,
    /// Averaging during the backward pass, as training does.
    pub images_per_s: f64,
    pub step_ms: f64,
    /// Averaging after the backward pass.
    pub images_per_s_after: f64,
    pub step_ms_after: f64,
    /// Averaging during the backward pass, with SyncBN (`train.sync_batchnorm`).
    pub images_per_s_syncbn: f64,
    pub step_ms_syncbn: f64,
    /// Time per step of the all-reduce after the backward pass: its whole cost.
    pub all_reduce_ms: f64,
    /// Time per step the overlapped step still waits for the all-reduce after its backward pass.
    pub exposed_ms: f64,
    pub all_reduce_mib_per_step: f64,
    /// Share of the all-reduce hidden under the backward pass: 1 − exposed / whole cost.
    pub hidden_fraction: f64,
    pub buckets: usize,
}

/// Seconds per step and averaging seconds per step of `iters` steps after 3 warm-up steps.
fn timed_steps(iters: usize, dist: &crate::dist::Dist, mut step: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..3 {
        step()?;
    }
    dist.barrier()?;
    let (before, _) = dist.averaging_totals();
    let t = Instant::now();
    for _ in 0..iters {
        step()?;
    }
    let seconds = t.elapsed().as_secs_f64() / iters as f64;
    Ok((seconds, (dist.averaging_totals().0 - before) / iters as f64))
}

/// Times `iters` data-parallel training steps of `model` on random data, each rank its own batch,
/// averaging during the backward pass, after it, and during it with SyncBN, in alternating rounds.
pub fn data_parallel(
    model: &str,
    batch: i64,
    input: [i64; 3],
    iters: usize,
    (device, precision): (Device, Precision),
    dist: &std::sync::Arc<crate::dist::Dist>,
) -> Result<DataParallelResult> {
    let (vs, net) = seeded_model(model, input, device, precision)?;
    let (x, y) = random_batch(batch, input, device);
    let mut opt = Optimizer::new(&vs, &OptimConfig::default()).with_dist(Some(dist.clone()));
    let step = |overlapped: bool, opt: &mut Optimizer| -> Result<()> {
        let loss = net.forward(&x, true).cross_entropy_for_logits(&y);
        opt.zero_grad();
        if overlapped {
            opt.backward(&loss)?;
        } else {
            loss.backward();
            opt.average_grads()?;
        }
        opt.step(0.01);
        sync(device);
        Ok(())
    };
    let (mut during, mut after, mut syncbn) = ((0.0, 0.0), (0.0, 0.0), 0.0);
    for _ in 0..2 {
        let d = timed_steps(iters, dist, || step(true, &mut opt))?;
        let a = timed_steps(iters, dist, || step(false, &mut opt))?;
        let s = {
            let _on = crate::dist::sync_bn::SyncBatchNorm::enter(Some(dist.clone()));
            timed_steps(iters, dist, || step(true, &mut opt))?
        };
        (during.0, during.1, after.0, after.1) =
            (during.0 + d.0 / 2.0, during.1 + d.1 / 2.0, after.0 + a.0 / 2.0, after.1 + a.1 / 2.0);
        syncbn += s.0 / 2.0;
    }
    let ranks = dist.world();
    let images = (ranks as i64 * batch) as f64;
    let bytes: usize = vs.trainable_variables().iter().map(|t| t.numel() * t.kind().elt_size_in_bytes()).sum();
    Ok(DataParallelResult {
        model: model.to_string(),
        ranks,
        batch,
        threads: tch::get_num_threads(),
        images_per_s: images / during.0,
        step_ms: 1000.0 * during.0,
        images_per_s_after: images / after.0,
        step_ms_after: 1000.0 * after.0,
        images_per_s_syncbn: images / syncbn,
        step_ms_syncbn: 1000.0 * syncbn,
        all_reduce_ms: 1000.0 * after.1,
        exposed_ms: 1000.0 * during.1,
        all_reduce_mib_per_step: bytes as f64 / (1 << 20) as f64,
        hidden_fraction: if after.1 > 0.0 { (1.0 - during.1 / after.1).clamp(0.0, 1.0) } else { 0.0 },
        buckets: opt.bucket_counts().map_or(0, |(b, _)| b),
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
pub fn attacks(
    model: &str,
    batch: i64,
    input: [i64; 3],
    iters: usize,
    (device, precision): (Device, Precision),
) -> Result<AttackBenchResult> {
    use crate::attacks::{Attack, AttackBatch, Fgsm, Pgd};
    let (_vs, net) = seeded_model(model, input, device, precision)?;
    let (x, y) = crate::rng::with_torch_seed(0, &[1], || random_batch(batch, input, device));
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

/// A method built from its name as a run would resolve it, with TENET due on every iteration, and
/// the views its loader would deliver (AugMix's two, CA's one) as random images.
struct TimedMethod {
    method: Box<dyn crate::methods::Method>,
    opt: Optimizer,
    views: Vec<Tensor>,
    step: usize,
}

impl TimedMethod {
    fn new(name: &str, net: &models::Network, vs: &VarStore, x: &Tensor) -> Result<TimedMethod> {
        use crate::config::Config;
        use crate::methods;
        let mut sets = vec![format!("method.name=\"{name}\"")];
        if name.contains("tenet") {
            sets.extend(["method.tenet.switch=1".to_string(), "method.tenet.every=1".to_string()]);
        }
        let mut cfg = Config::load(None, &sets)?;
        methods::resolve(&mut cfg.method);
        methods::bind(&mut cfg.method, net);
        let method = methods::build(&cfg.method, net, 10)?;
        let extra = methods::loader_augment(&cfg.method, &[]);
        let views = if extra.augmix.as_ref().is_some_and(|a| a.jsd_views) {
            2
        } else {
            extra.ca.as_ref().is_some_and(|c| c.as_view) as usize
        };
        let views = (0..views).map(|_| x.rand_like()).collect();
        Ok(TimedMethod { method, opt: Optimizer::new(vs, &OptimConfig::default()), views, step: 0 })
    }

    /// Milliseconds per step over `iters` steps (after one warm-up step).
    fn ms(&mut self, net: &models::Network, (x, y): (&Tensor, &Tensor), iters: usize, device: Device) -> Result<f64> {
        let ids: Vec<u64> = (0..x.size()[0] as u64).collect();
        let mut failed = None;
        let rate = timed(iters, 1, x.size()[0], device, || {
            let mut ctx = crate::methods::StepContext::new(net, &mut self.opt, 1e-4, &ids);
            ctx.step = self.step;
            ctx.views = self.views.iter().map(|v| v.shallow_clone()).collect();
            if let Err(e) = self.method.train_step(&mut ctx, x, y) {
                failed = Some(e);
            }
            self.step += 1;
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(1000.0 * x.size()[0] as f64 / rate),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times each method's training step on random images labelled with the model's own predictions (so
/// TENET's positive set is the whole batch, its most expensive case), with TENET due every iteration.
/// Each method's rounds alternate with rounds of the plain step; the ratio is the median over rounds
/// of (method round) / (the plain rounds around it), which cancels this machine's drift. The row
/// `tenet grouping+masks` times the k-means and masks alone on that batch's feature maps.
pub fn methods(
    model: &str,
    batch: i64,
    input: [i64; 3],
    iters: usize,
    (device, precision): (Device, Precision),
    names: &[String],
) -> Result<Vec<MethodBenchRow>> {
    use crate::methods::tenet;
    let (vs, net) = seeded_model(model, input, device, precision)?;
    let x = crate::rng::with_torch_seed(0, &[1], || {
        Tensor::rand([batch, input[0], input[1], input[2]], (Kind::Float, device))
    });
    let y = tch::no_grad(|| net.forward(&x, true).argmax(-1, false));
    let rounds = 3;
    let per_round = iters.div_ceil(rounds).max(1);
    let mut plain = TimedMethod::new("baseline", &net, &vs, &x)?;
    let mut plain_ms = vec![plain.ms(&net, (&x, &y), per_round, device)?];
    let mut measured: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    for name in names.iter().filter(|n| *n != "baseline") {
        let mut m = TimedMethod::new(name, &net, &vs, &x)?;
        let (mut ms, mut ratios) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let before = *plain_ms.last().unwrap_or(&f64::NAN);
            let t = m.ms(&net, (&x, &y), per_round, device)?;
            let after = plain.ms(&net, (&x, &y), per_round, device)?;
            plain_ms.push(after);
            ratios.push(2.0 * t / (before + after));
            ms.push(t);
        }
        measured.push((name.clone(), ms, ratios));
    }
    let plain_median = median(plain_ms);
    let row = |method: &str, ms: f64, relative: f64| MethodBenchRow {
        model: model.to_string(),
        batch,
        method: method.to_string(),
        ms_per_step: ms,
        relative,
    };
    let mut rows = vec![row("baseline", plain_median, 1.0)];
    rows.extend(measured.into_iter().map(|(name, ms, ratios)| row(&name, median(ms), median(ratios))));
    if names.iter().any(|n| n.contains("tenet")) {
        let stage = net.stage_index(crate::methods::default_tenet_stage(&net))?;
        let (a, g) = tenet::importance_gradient(&net, &x, &y, stage);
        let (n, c, h, w) = a.size4().unwrap_or((0, 0, 0, 0));
        let rate = timed(iters, 2, batch, device, || {
            tch::no_grad(|| {
                let init = tenet::initial_centres(n, c, 6, 0, &[0], device);
                let labels = tenet::kmeans(&a.reshape([n, c, h * w]), &init, 50, 1e-4);
                let _ = tenet::inhibition_masks(&a, &g, &labels, 6, 1e-8);
            })
        });
        let ms = 1000.0 * batch as f64 / rate;
        rows.push(row("tenet grouping+masks", ms, ms / plain_median));
    }
    Ok(rows)
}
