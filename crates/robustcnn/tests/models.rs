//! The model zoo's contract, for every entry of `MODELS`: shapes, the staged forward, gradients into
//! every parameter; and PyTorch-style names and registry errors.
use robustcnn::models::{self, ModelSpec, MODELS};
use tch::{nn::VarStore, Device, Kind, Tensor};

fn spec(c: i64) -> ModelSpec {
    ModelSpec { in_channels: c, num_classes: 7, mean: vec![0.5; c as usize], std: vec![0.25; c as usize] }
}

#[test]
fn every_model_gives_logits_and_splits_at_every_stage() {
    for m in MODELS {
        // Gray 28×28 and RGB 32×32 inputs; one image each keeps the wide models quick on a CPU.
        for (c, size) in [(1, 28), (3, 32)] {
            let vs = VarStore::new(Device::Cpu);
            let net = models::build(&vs.root(), m.name, &spec(c)).unwrap();
            let x = Tensor::rand([1, c, size, size], (Kind::Float, Device::Cpu));
            let full = net.forward(&x, false);
            assert_eq!(full.size(), vec![1, 7], "{}", m.name);
            assert_eq!(*net.stages().last().unwrap(), "head");
            for k in 0..net.stages().len() - 1 {
                let split = net.forward_from(&net.forward_to(&x, k, false), k, false);
                assert!(split.allclose(&full, 1e-5, 1e-5, false), "{} at {}", m.name, net.stages()[k]);
            }
        }
    }
}

#[test]
fn every_model_trains_backward_into_every_parameter() {
    for m in MODELS {
        let vs = VarStore::new(Device::Cpu);
        let net = models::build(&vs.root(), m.name, &spec(3)).unwrap();
        // Two images: training-mode batch norm needs more than one value per channel.
        let x = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let loss = net.forward(&x, true).log_softmax(-1, Kind::Float).mean(Kind::Float);
        loss.backward();
        for (name, var) in vs.variables() {
            if !var.requires_grad() {
                continue;
            }
            let grad = var.grad();
            assert!(grad.defined(), "{}: no gradient reaches {name}", m.name);
            assert!(grad.isfinite().all().int64_value(&[]) == 1, "{}: non-finite gradient at {name}", m.name);
        }
    }
}

#[test]
fn parameter_names_follow_pytorch() {
    let vs = VarStore::new(Device::Cpu);
    models::build(&vs.root(), "resnet20", &spec(3)).unwrap();
    let names = vs.variables();
    for n in [
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer3.2.bn2.bias",
        "fc.weight",
        "normalize.mean",
    ] {
        assert!(names.contains_key(n), "missing {n}");
    }
    let vs = VarStore::new(Device::Cpu);
    models::build(&vs.root(), "resnet50", &spec(3)).unwrap();
    assert!(vs.variables().contains_key("layer2.0.downsample.0.weight"));
    let vs = VarStore::new(Device::Cpu);
    models::build(&vs.root(), "resnext29-4x32d", &spec(3)).unwrap();
    let v = vs.variables();
    assert!(v.contains_key("stage_2.stage_2_bottleneck_0.shortcut.shortcut_conv.weight"));
    // The grouped 3×3 conv of stage 1: D = 128 channels in 4 groups of 32.
    assert_eq!(v["stage_1.stage_1_bottleneck_0.conv_conv.weight"].size(), vec![128, 32, 3, 3]);
}

#[test]
fn resnet20_has_the_published_parameter_count() {
    let vs = VarStore::new(Device::Cpu);
    let s = ModelSpec { num_classes: 10, ..spec(3) };
    models::build(&vs.root(), "resnet20", &s).unwrap();
    // He et al. 2016 report 0.27M parameters for ResNet-20.
    assert_eq!(models::parameter_count(&vs), 269_722);
}

#[test]
fn normalization_is_inside_the_model() {
    let vs = VarStore::new(Device::Cpu);
    let net = models::build(&vs.root(), "small-cnn", &spec(1)).unwrap();
    let x = Tensor::full([1, 1, 28, 28], 0.5, (Kind::Float, Device::Cpu));
    // (0.5 − mean 0.5)/std is all zeros, so the stem's output equals that of a zero input without normalization.
    let stem = net.forward_to(&x, 0, false);
    assert_eq!(stem.size(), vec![1, 32, 28, 28]);
    assert!(vs.variables()["normalize.std"].allclose(
        &Tensor::full([1, 1, 1, 1], 0.25, (Kind::Float, Device::Cpu)),
        0.0,
        0.0,
        false
    ));
    assert!(!vs.variables()["normalize.mean"].requires_grad());
}

/// Whether an (N, C, H, W) tensor's strides are channels-last ones, size-1 dimensions included.
fn has_nhwc_strides(t: &Tensor) -> bool {
    let (size, s) = (t.size(), t.stride());
    size.len() == 4 && s[1] == 1 && s[3] == size[1] && s[2] == size[3] * size[1]
}

#[test]
fn channels_last_gives_nhwc_strides_even_to_one_channel_and_passes_gradients() {
    for c in [1, 3] {
        let x = Tensor::arange(2 * c * 4 * 5, (Kind::Float, Device::Cpu)).reshape([2, c, 4, 5]).requires_grad_(true);
        let y = models::channels_last(&x);
        assert!(has_nhwc_strides(&y), "C = {c}: strides {:?}", y.stride());
        assert!(y.equal(&x));
        (&y * &y).sum(Kind::Float).backward();
        assert!(x.grad().allclose(&(&x * 2.0), 0.0, 0.0, false));
    }
}

#[test]
fn one_channel_networks_run_channels_last_on_the_cpu() {
    let vs = VarStore::new(Device::Cpu);
    for name in ["small-cnn", "resnet20"] {
        let net = models::build(&vs.root().sub(name), name, &spec(1)).unwrap();
        let x = Tensor::rand([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        let stem = net.forward_to(&x, 0, true);
        assert!(has_nhwc_strides(&stem), "{name}: stem output strides {:?}", stem.stride());
    }
}

#[test]
fn registry_errors_list_the_names() {
    let vs = VarStore::new(Device::Cpu);
    let e = models::build(&vs.root(), "vgg16", &spec(3)).unwrap_err().to_string();
    assert!(
        e.starts_with("unknown model 'vgg16' (models: small-cnn, resnet20, resnet32, resnet56, preact-resnet18"),
        "{e}"
    );
    let net = models::build(&vs.root(), "small-cnn", &spec(1)).unwrap();
    let e = net.stage_index("stage9").unwrap_err().to_string();
    assert!(e.contains("has no stage 'stage9' (stages: stem, stage1, stage2, head)"), "{e}");
    let bad = ModelSpec { std: vec![0.0], ..spec(1) };
    assert!(models::build(&vs.root(), "small-cnn", &bad).is_err());
}

#[test]
fn folded_conv_bn_in_eval_mode_equals_conv_then_batch_norm() {
    use tch::nn::ModuleT;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let cb = robustcnn::models::blocks::conv_bn(vs.root() / "c", vs.root() / "b", 3, 8, 3, 2, 1);
    let vars = vs.variables();
    tch::manual_seed(6);
    tch::no_grad(|| {
        for name in ["b.weight", "b.bias", "b.running_mean"] {
            vars[name].shallow_clone().copy_(&Tensor::randn([8], (Kind::Float, tch::Device::Cpu)));
        }
        vars["b.running_var"].shallow_clone().copy_(&(Tensor::rand([8], (Kind::Float, tch::Device::Cpu)) + 0.1));
    });
    let x = Tensor::randn([4, 3, 9, 9], (Kind::Float, tch::Device::Cpu));
    let folded = tch::no_grad(|| cb.forward_t(&x, false));
    let reference = tch::no_grad(|| {
        x.conv2d(&vars["c.weight"], None::<Tensor>, [2], [1], [1], 1).batch_norm(
            Some(&vars["b.weight"]),
            Some(&vars["b.bias"]),
            Some(&vars["b.running_mean"]),
            Some(&vars["b.running_var"]),
            false,
            0.1,
            1e-5,
            false,
        )
    });
    let diff = (folded - &reference).abs().max().double_value(&[]);
    assert!(diff < 1e-5 * reference.abs().max().double_value(&[]).max(1.0), "max difference {diff}");
}
