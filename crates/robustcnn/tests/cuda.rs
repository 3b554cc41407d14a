//! The CUDA path (docs/gpu-check.md): every test here needs an NVIDIA GPU, so
//! all are ignored by default; `scripts/gpu-check.sh` runs them with `--ignored` on a GPU machine.
use robustcnn::config::{Config, OptimConfig};
use robustcnn::data::loader::{make_batch, LoaderSpec};
use robustcnn::data::Dataset;
use robustcnn::models::{self, ModelSpec, Network};
use robustcnn::precision::{Autocast, Precision, Reduced};
use robustcnn::train::optim::Optimizer;
use std::path::Path;
use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};

const GPU: Device = Device::Cuda(0);

/// Every variable of a var store, sorted by name, as CPU float64 values.
fn values(vs: &VarStore) -> Vec<(String, Vec<f64>)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
        .into_iter()
        .map(|(n, t)| (n, Vec::<f64>::try_from(t.to_kind(Kind::Double).to(Device::Cpu).reshape([-1])).unwrap()))
        .collect()
}

/// ResNet-20 on `device` with the weights of a seeded CPU ResNet-20.
fn resnet20_on(device: Device) -> (VarStore, Network) {
    let spec = ModelSpec { in_channels: 3, num_classes: 10, mean: vec![0.5; 3], std: vec![0.25; 3] };
    let cpu = VarStore::new(Device::Cpu);
    let _ = robustcnn::rng::with_torch_seed(0, &[], || models::build(&cpu.root(), "resnet20", &spec)).unwrap();
    let mut vs = VarStore::new(device);
    let net = models::build(&vs.root(), "resnet20", &spec).unwrap();
    vs.copy(&cpu).unwrap();
    (vs, net)
}

/// Largest absolute difference between two tensors, on the CPU in float64.
fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to(Device::Cpu).to_kind(Kind::Double), b.to(Device::Cpu).to_kind(Kind::Double));
    (a - b).abs().max().double_value(&[])
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn the_gpu_is_seen_and_supports_bf16() {
    assert!(tch::Cuda::is_available() && tch::Cuda::device_count() >= 1, "libtorch sees no CUDA device");
    let capability = robustcnn::device::cuda_capability(0);
    assert!(matches!(capability, Some((major, _)) if major >= 8), "compute capability {capability:?}");
    Precision::Bf16.check_device(GPU, "--precision").unwrap();
    Precision::Fp16.check_device(GPU, "--precision").unwrap();
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn one_seed_gives_one_initial_model_on_the_cpu_and_the_gpu() {
    let cfg = |device: &str| {
        Config::load(
            None,
            &["model.name=\"resnet20\"".into(), format!("train.device=\"{device}\""), "train.seed=3".into()],
        )
        .unwrap()
    };
    let cpu = robustcnn::train::prepare(&cfg("cpu")).unwrap();
    let gpu = robustcnn::train::prepare(&cfg("cuda")).unwrap();
    assert_eq!(gpu.device, GPU);
    assert!(gpu.vs.variables().values().all(|t| t.device() == GPU));
    assert_eq!(values(&cpu.vs), values(&gpu.vs), "the initial weights differ between the CPU and the GPU");
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn autocast_runs_cuda_convolutions_in_the_reduced_type_and_restores() {
    let x = Tensor::rand([2, 3, 8, 8], (Kind::Float, GPU));
    let w = Tensor::rand([4, 3, 3, 3], (Kind::Float, GPU));
    let conv = || x.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
    for (reduced, kind) in [(Reduced::BFloat16, Kind::BFloat16), (Reduced::Float16, Kind::Half)] {
        {
            let _region = Autocast::enter(true, reduced);
            assert!(Autocast::enabled(true) && !Autocast::enabled(false), "only CUDA's flag is on");
            assert_eq!(conv().kind(), kind);
        }
        assert!(!Autocast::enabled(true));
        assert_eq!(conv().kind(), Kind::Float, "fp32 again after the region");
    }
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn resnet20_on_the_gpu_computes_what_it_computes_on_the_cpu() {
    let (_c, cpu) = resnet20_on(Device::Cpu);
    let (_g, gpu) = resnet20_on(GPU);
    let x = Tensor::rand([16, 3, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&(0..16).map(|i| i % 10).collect::<Vec<i64>>());
    // cuDNN runs fp32 convolutions in TF32 (10-bit mantissa) by default, as PyTorch's
    // `cudnn.allow_tf32 = True`: the bound is TF32's, far below what a wrong kernel gives.
    for train in [false, true] {
        // Training mode runs the CPU's fused batch norm + ReLU and libtorch's chain on the GPU.
        let (a, b) = (cpu.forward(&x, train), gpu.forward(&x.to(GPU), train));
        assert_eq!(b.device(), GPU);
        let scale = a.abs().max().double_value(&[]);
        assert!(max_diff(&a, &b) < 1e-2 * scale.max(1.0), "train={train}: logits differ by {}", max_diff(&a, &b));
    }
    // The input gradient an attack takes.
    let grad = |net: &Network, device: Device| {
        let xg = x.to(device).set_requires_grad(true);
        let loss = net.forward(&xg, false).cross_entropy_for_logits(&y.to(device));
        Tensor::run_backward(&[loss], &[&xg], false, false).remove(0)
    };
    let (a, b) = (grad(&cpu, Device::Cpu), grad(&gpu, GPU));
    let scale = a.abs().max().double_value(&[]);
    assert!(max_diff(&a, &b) < 1e-2 * scale, "input gradients differ by {} (largest {scale})", max_diff(&a, &b));
    // Under bf16 autocast the GPU's logits stay fp32 and near the fp32 ones.
    gpu.set_precision(Precision::Bf16);
    let mixed = gpu.forward(&x.to(GPU), false);
    assert_eq!(mixed.kind(), Kind::Float);
    let full = cpu.forward(&x, false);
    let d = max_diff(&full, &mixed);
    assert!(d > 0.0 && d < 0.1 * full.std(false).double_value(&[]).max(1e-3), "bf16 moved the logits by {d}");
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn fp16_on_the_gpu_skips_an_overflowing_step_and_halves_the_scale() {
    let vs = VarStore::new(GPU);
    let net = nn::seq()
        .add(nn::linear(vs.root() / "a", 6, 8, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(vs.root() / "b", 8, 3, Default::default()));
    let mut opt = Optimizer::new(&vs, &OptimConfig { lr: 0.1, ..OptimConfig::default() }).with_loss_scaler(true);
    // Small inputs keep the scaled float16 gradients (initial scale 65536) below float16's 65504.
    let x = Tensor::rand([4, 6], (Kind::Float, GPU)) * 0.1;
    let y = Tensor::from_slice(&[0i64, 1, 2, 1]).to(GPU);
    let mut taken = Vec::new();
    for k in 0..4 {
        let before = values(&vs);
        let loss = {
            let _fp16 = Precision::Fp16.autocast(GPU);
            let logits = net.forward(&x);
            assert_eq!(logits.kind(), Kind::Half, "autocast ran the linear layers in float16");
            logits.to_kind(Kind::Float).cross_entropy_for_logits(&y)
        };
        let loss = if k == 2 { loss * 1e35 } else { loss };
        opt.zero_grad();
        let ok = opt.backward(&loss).unwrap();
        if ok {
            opt.step(0.1);
        }
        assert_eq!(ok, values(&vs) != before, "step {k}: taken={ok} but the weights did the opposite");
        taken.push(ok);
    }
    assert_eq!(taken, [true, true, false, true]);
    let s = opt.loss_scaler().unwrap();
    assert_eq!((s.scale, s.skipped), (32768.0, 1));
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn pinned_batches_reach_the_gpu_unchanged() {
    let images: Vec<u8> = (0..20 * 8 * 8 * 3).map(|i| (i * 37 % 251) as u8).collect();
    let labels = (0..20).map(|i| (i % 4) as u16).collect();
    let classes = ["a", "b", "c", "d"].map(String::from).to_vec();
    let ds = Dataset::new(Path::new("toy"), images, labels, (8, 8, 3), classes).unwrap();
    let spec = LoaderSpec::evaluation(8);
    let idx: Vec<usize> = (3..11).collect();
    let plain = make_batch(&ds, &idx, &spec, 0);
    let pinned = make_batch(&ds, &idx, &spec, 0).pinned_for(GPU);
    assert!(pinned.images.is_pinned(GPU), "the batch was not page-locked");
    let (images, labels, _) = pinned.to_device(GPU);
    tch::Cuda::synchronize(0);
    assert_eq!(images.device(), GPU);
    assert_eq!(max_diff(&images, &plain.images), 0.0);
    assert_eq!(max_diff(&labels, &plain.labels), 0.0);
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh runs it"]
fn nccl_carries_the_collectives_on_gpu_tensors() {
    use robustcnn::dist::{Backend, Dist, Launch, Timeouts};
    assert!(robustcnn_bridge::c10d::has_nccl(), "this build has no NCCL (ROBUSTCNN_CUDA_INCLUDE was not set)");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let launch = Launch {
        rank: 0,
        world: 1,
        local_rank: 0,
        master_addr: "127.0.0.1".into(),
        master_port: port,
        launcher: "torchrun",
    };
    let t = Timeouts {
        rendezvous: std::time::Duration::from_secs(60),
        collective: std::time::Duration::from_secs(60),
        heartbeat: None,
    };
    let d = Dist::join_over(launch, t, Backend::Nccl).unwrap();
    assert_eq!((d.backend_for(GPU), d.backend_for(Device::Cpu)), ("NCCL", "Gloo"));
    // The ranks' GPUs are compared (by UUID, over Gloo) before NCCL's first collective.
    assert_eq!(d.local_device("cuda").unwrap(), "cuda:0");
    // A world of one: every collective must give back what it was given, on the GPU (NCCL) and the CPU (Gloo).
    let x = Tensor::from_slice(&[1.5f32, -2.0, 3.25]).to(GPU);
    let sum = x.copy();
    d.sum_(&sum).unwrap();
    assert_eq!(max_diff(&sum, &x), 0.0);
    assert_eq!(d.sum_f64(&[2.0, 5.0]).unwrap(), [2.0, 5.0]);
    let gathered = d.gather(&x).unwrap();
    assert_eq!((gathered.len(), max_diff(&gathered[0], &x)), (1, 0.0));
    d.broadcast_from_main(std::slice::from_ref(&sum)).unwrap();
    // SyncBN's forward and backward, and the overlapped gradient averaging, over NCCL.
    let (vs, net) = resnet20_on(GPU);
    let images = Tensor::rand([16, 3, 32, 32], (Kind::Float, Device::Cpu)).to(GPU);
    let labels = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]).to(GPU);
    let loss = |net: &Network| net.forward(&images, true).cross_entropy_for_logits(&labels);
    let params: Vec<Tensor> = vs.trainable_variables();
    loss(&net).backward();
    let plain: Vec<Tensor> = params.iter().map(|p| p.grad().copy()).collect();
    for p in &params {
        let _ = p.grad().zero_();
    }
    let sync = d.grad_sync(&params, None).unwrap();
    let job = std::sync::Arc::new(d);
    let _sync_bn = robustcnn::dist::sync_bn::SyncBatchNorm::enter(Some(job.clone()));
    job.backward_averaged(&sync, &loss(&net)).unwrap();
    for (p, g) in params.iter().zip(&plain) {
        assert!(max_diff(&p.grad(), g) < 1e-4, "a gradient averaged over NCCL differs: {}", max_diff(&p.grad(), g));
    }
    drop(sync);
    job.finish().unwrap();
}
