//! fp16's dynamic loss scaling (docs/precision.md, "fp16"): scaling by a power of two changes no
//! gradient, a step whose gradients overflow is skipped with the scale halved, 2,000 steps in a row
//! double it, the state survives a checkpoint, and fp16 off CUDA is one clear error.
use robustcnn::config::OptimConfig;
use robustcnn::precision::{check_cuda_bf16, Precision};
use robustcnn::train::loss_scale::{LossScaler, STATE_NAME};
use robustcnn::train::optim::Optimizer;
use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};

/// A small network with the same weights on every call (set by formula: tests run in parallel
/// threads that share libtorch's generator).
fn model() -> (VarStore, nn::Sequential) {
    let vs = VarStore::new(Device::Cpu);
    let net = nn::seq()
        .add(nn::linear(vs.root() / "a", 6, 8, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(vs.root() / "b", 8, 3, Default::default()));
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (k, (_, t)) in named.iter().enumerate() {
            let values = Tensor::arange(t.numel() as i64, (Kind::Float, Device::Cpu)) * 0.7 + k as f64;
            t.shallow_clone().copy_(&(values.sin() * 0.5).reshape(t.size()));
        }
    });
    (vs, net)
}

fn weights(vs: &VarStore) -> Vec<f32> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.iter().flat_map(|(_, t)| Vec::<f32>::try_from(t.reshape([-1])).unwrap()).collect()
}

/// Weights after `steps` SGD steps, the loss multiplied by `blow_up` at step 2; with or without the
/// scaler. Returns the weights after each step and whether each step was taken.
fn train(scaled: bool, blow_up: f64, steps: usize) -> (Vec<Vec<f32>>, Vec<bool>, Optimizer) {
    let (vs, net) = model();
    let mut opt = Optimizer::new(&vs, &OptimConfig { lr: 0.1, ..OptimConfig::default() }).with_loss_scaler(scaled);
    let (mut after, mut taken) = (Vec::new(), Vec::new());
    for k in 0..steps {
        let x =
            Tensor::arange(24, (Kind::Float, Device::Cpu)).reshape([4, 6]).g_mul_scalar((k + 1) as f64 * 0.05).sin();
        let y = Tensor::from_slice(&[0i64, 1, 2, 1]);
        let loss = net.forward(&x).cross_entropy_for_logits(&y);
        let loss = if k == 2 { loss * blow_up } else { loss };
        opt.zero_grad();
        let ok = opt.backward(&loss).unwrap();
        if ok {
            opt.step(0.1);
        }
        taken.push(ok);
        after.push(weights(&vs));
    }
    (after, taken, opt)
}

#[test]
fn a_power_of_two_scale_changes_no_gradient() {
    let (plain, _, _) = train(false, 1.0, 5);
    let (scaled, taken, opt) = train(true, 1.0, 5);
    assert!(taken.iter().all(|&t| t));
    assert_eq!(scaled, plain, "scaled and unscaled steps differ");
    assert_eq!(opt.loss_scaler().unwrap(), LossScaler { scale: 65536.0, good_steps: 5, skipped: 0 });
}

#[test]
fn an_overflowing_step_is_skipped_and_halves_the_scale() {
    // 1e35 × the initial scale 65536 overflows float32 in the backward pass.
    let (after, taken, opt) = train(true, 1e35, 5);
    assert_eq!(taken, [true, true, false, true, true]);
    assert_eq!(after[2], after[1], "the skipped step changed the weights");
    assert_ne!(after[3], after[2], "training goes on after the skipped step");
    assert_eq!(opt.loss_scaler().unwrap(), LossScaler { scale: 32768.0, good_steps: 2, skipped: 1 });
    // The state is a checkpoint entry, and a fresh optimizer reads it back.
    let state: std::collections::HashMap<String, Tensor> =
        opt.state().iter().map(|(n, t)| (n.clone(), t.copy())).collect();
    assert!(state.contains_key(STATE_NAME));
    let (vs, _) = model();
    let mut resumed = Optimizer::new(&vs, &OptimConfig::default()).with_loss_scaler(true);
    assert!(resumed.load_state(&state).is_empty());
    assert_eq!(resumed.loss_scaler(), opt.loss_scaler());
    // Without the scaler the same loss is not caught: the weights become NaN.
    let (plain, taken, _) = train(false, 1e35, 4);
    assert!(taken.iter().all(|&t| t) && plain[3].iter().any(|w| !w.is_finite()));
}

#[test]
fn two_thousand_clean_steps_double_the_scale() {
    let mut s = LossScaler::default();
    for _ in 0..1999 {
        s.update(false);
    }
    assert_eq!(s.scale, 65536.0);
    s.update(false);
    assert_eq!((s.scale, s.good_steps), (131072.0, 0));
    s.update(true);
    assert_eq!((s.scale, s.good_steps, s.skipped), (65536.0, 0, 1));
    let t = s.to_tensor();
    assert_eq!(LossScaler::from_tensor(&t), Some(s));
}

#[test]
fn fp16_off_cuda_is_one_clear_error() {
    let e = Precision::Fp16.check_device(Device::Cpu, "train.precision").unwrap_err().to_string();
    assert_eq!(
        e,
        "train.precision fp16: float16 autocast (with its loss scaler) runs on CUDA devices; on the CPU use bf16"
    );
    assert!(Precision::Fp16.check_device(Device::Cuda(0), "train.precision").is_ok());
    assert!(Precision::Bf16.check_device(Device::Cpu, "train.precision").is_ok());
}

#[test]
fn bf16_on_a_gpu_before_ampere_is_one_clear_error() {
    let e = check_cuda_bf16(Some((7, 0)), 1, "--precision").unwrap_err().to_string();
    assert_eq!(
        e,
        "--precision bf16: cuda:1 has compute capability 7.0, and bfloat16 needs 8.0 (Ampere) or newer; use fp16 there"
    );
    assert!(check_cuda_bf16(Some((8, 0)), 0, "--precision").is_ok());
    assert!(check_cuda_bf16(Some((9, 0)), 0, "--precision").is_ok());
    assert!(check_cuda_bf16(None, 0, "--precision").is_ok(), "no driver to ask: libtorch decides");
    // No machine has a thousand GPUs: the driver query answers None rather than failing.
    assert_eq!(robustcnn::device::cuda_capability(999), None);
}
