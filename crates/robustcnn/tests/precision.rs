//! Mixed precision (docs/precision.md): under bf16 the network's convolutions run in bfloat16 through
//! libtorch's autocast while what leaves the network is fp32; autocast regions nest and restore; a
//! bf16 training run learns, keeps fp32 weights and checkpoints, and evaluates in fp32; bad names
//! get one clear error.
mod common;
use robustcnn::config::Config;
use robustcnn::models::{self, ModelSpec};
use robustcnn::precision::{Autocast, Precision, Reduced};
use robustcnn::train::{self, checkpoint};
use tch::{nn::VarStore, Device, Kind, Tensor};

fn resnet20() -> (VarStore, models::Network) {
    let vs = VarStore::new(Device::Cpu);
    let spec = ModelSpec { in_channels: 3, num_classes: 10, mean: vec![0.5; 3], std: vec![0.25; 3] };
    let net = robustcnn::rng::with_torch_seed(0, &[], || models::build(&vs.root(), "resnet20", &spec)).unwrap();
    (vs, net)
}

#[test]
fn bf16_runs_the_network_in_bfloat16_and_hands_back_fp32() {
    let (_vs, net) = resnet20();
    let x = Tensor::rand([8, 3, 32, 32], (Kind::Float, Device::Cpu));
    let full = net.forward(&x, false);
    net.set_precision(Precision::Bf16);
    let mixed = net.forward(&x, false);
    assert_eq!(mixed.kind(), Kind::Float, "logits leave the network in fp32");
    let stages = net.stage_outputs(&x, false);
    assert!(stages.iter().all(|s| s.kind() == Kind::Float), "every stage output is fp32");
    // bfloat16 keeps 8 bits of mantissa: the logits move, by far less than their spread.
    let diff = (&mixed - &full).abs().max().double_value(&[]);
    let spread = full.std(false).double_value(&[]);
    assert!(diff > 0.0, "bf16 logits equal the fp32 ones: autocast did not act");
    assert!(diff < 0.1 * spread.max(1e-3), "bf16 moved the logits by {diff}, their spread is {spread}");
    assert!(!Autocast::enabled(false), "autocast is off again after the forward pass");
    // The input gradient an attack takes is fp32 too.
    let xg = x.set_requires_grad(true);
    let loss = net.forward(&xg, false).log_softmax(-1, Kind::Float).mean(Kind::Float);
    let grad = Tensor::run_backward(&[loss], &[&xg], false, false).remove(0);
    assert_eq!(grad.kind(), Kind::Float);
    assert!(grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}

#[test]
fn autocast_regions_nest_and_restore_the_state_they_found() {
    assert!(!Autocast::enabled(false));
    let conv = |x: &Tensor, w: &Tensor| x.conv2d(w, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    let (x, w) = (
        Tensor::rand([1, 2, 4, 4], (Kind::Float, Device::Cpu)),
        Tensor::rand([3, 2, 1, 1], (Kind::Float, Device::Cpu)),
    );
    {
        let _outer = Autocast::enter(false, Reduced::BFloat16);
        assert_eq!(conv(&x, &w).kind(), Kind::BFloat16, "autocast runs the convolution in bfloat16");
        {
            let _inner = Autocast::enter(false, Reduced::BFloat16);
            assert!(Autocast::enabled(false));
        }
        assert!(Autocast::enabled(false), "leaving the inner region keeps the outer one on");
    }
    assert!(!Autocast::enabled(false));
    assert_eq!(conv(&x, &w).kind(), Kind::Float);
}

#[test]
fn a_bf16_run_learns_keeps_fp32_weights_and_says_so() {
    let cfg = Config::load(
        None,
        &[
            "data.val_fraction=0.8".into(),
            "data.batch_size=64".into(),
            "train.epochs=2".into(),
            "optim.lr=0.05".into(),
            "train.precision=\"bf16\"".into(),
        ],
    )
    .unwrap();
    let (_dir, whole, parts) = common::whole_and_resumed(&cfg, 25);
    let accuracy = common::logged(&whole, "test_accuracy");
    assert!(accuracy[0] > 0.5, "bf16 training reached {accuracy:?} test accuracy");
    let start = std::fs::read_to_string(whole.join(train::METRICS_FILE)).unwrap();
    assert!(start.lines().next().unwrap().contains("\"precision\":\"bf16\""), "{start}");
    let written = std::fs::read_to_string(whole.join("config.toml")).unwrap();
    assert!(written.contains("precision = \"bf16\""), "{written}");
    for (name, t) in checkpoint::read(&whole.join("model.safetensors")).unwrap() {
        assert_eq!(t.kind(), Kind::Float, "{name} is stored in fp32");
    }
    // A bf16 run resumes exactly, as an fp32 one does.
    let (a, b) = (
        checkpoint::read(&whole.join("model.safetensors")).unwrap(),
        checkpoint::read(&parts.join("model.safetensors")).unwrap(),
    );
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs after resuming");
    }
}

#[test]
fn precision_names_are_checked() {
    let err = |v: &str| Config::load(None, &[format!("train.precision=\"{v}\"")]).unwrap_err().to_string();
    let e = err("fp8");
    assert!(e.contains("precision fp8: unknown precision (precisions: fp32, bf16, fp16)"), "{e}");
    let fp16 = Config::load(None, &["train.precision=\"fp16\"".to_string()]).unwrap();
    assert_eq!(fp16.train.precision, Precision::Fp16, "fp16 is a precision; the device is checked when it runs");
    // fp32 is the default and is not written out, so recipes from before keep their bytes.
    assert!(!Config::load(None, &[]).unwrap().to_toml().contains("precision"));
}
