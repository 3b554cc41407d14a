//! The model zoo. Every model is a [`Network`]: normalization, then named stages, the last of which
//! ("head") produces logits, so methods can cut the forward pass at any stage.
pub mod blocks;
pub mod import;
mod pickle;
mod preact;
mod resnet_cifar;
mod resnet_imagenet;
mod resnet_reid;
mod resnext;
mod small_cnn;
pub mod torchscript;
mod wrn;

use crate::error::{Error, Result};
use crate::precision::Precision;
use std::sync::atomic::{AtomicU8, Ordering};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// One stage of a network: a boxed train-aware module.
pub type Stage = Box<dyn ModuleT>;

/// A CNN split into named stages; images in [0,1] go in, normalization is its first layer.
#[derive(Debug)]
pub struct Network {
    pub name: String,
    stage_names: Vec<&'static str>,
    stages: Vec<Stage>,
    mean: Tensor,
    std: Tensor,
    /// 0 fp32, 1 bf16 ([`Precision`]), shared by the threads that read the network.
    precision: AtomicU8,
}

impl Network {
    /// The names of the cut points, in order; the last is always "head".
    pub fn stages(&self) -> &[&'static str] {
        &self.stage_names
    }

    /// Index of a stage by name, or an error listing the valid names.
    pub fn stage_index(&self, name: &str) -> Result<usize> {
        self.stage_names.iter().position(|s| *s == name).ok_or_else(|| {
            Error::Config(format!(
                "model {} has no stage '{name}' (stages: {})",
                self.name,
                self.stage_names.join(", ")
            ))
        })
    }

    /// The precision its forward passes run in (fp32 unless set; docs/precision.md).
    pub fn precision(&self) -> Precision {
        Precision::from_index(self.precision.load(Ordering::Relaxed))
    }

    /// Sets the precision of later forward passes; weights stay fp32 whatever it is.
    pub fn set_precision(&self, precision: Precision) {
        self.precision.store(precision.index(), Ordering::Relaxed);
    }

    /// Normalized input, in channels-last memory on the CPU, and on a GPU in mixed precision.
    fn normalize(&self, x: &Tensor) -> Tensor {
        let h = (x - &self.mean) / &self.std;
        if h.dim() == 4 && (h.device() == tch::Device::Cpu || !self.precision().is_fp32()) {
            // Channels-last (NHWC) memory: oneDNN's CPU convolutions then skip the layout reorders
            // around every layer, and cuDNN's bf16/fp16 tensor-core convolutions want it too
            // (docs/precision.md).
            return channels_last(&h);
        }
        h
    }

    /// A reduced-precision stage output as fp32: under mixed precision the network's outputs leave
    /// autocast in fp32, so losses, masks and attacks downstream compute in fp32 (docs/precision.md).
    /// Other kinds (fp32, or a model moved to f64) pass unchanged.
    fn fp32(t: Tensor) -> Tensor {
        match t.kind() {
            Kind::BFloat16 | Kind::Half => t.to_kind(Kind::Float),
            _ => t,
        }
    }

    /// The feature map after stage `stage` (normalization and stages 0..=stage applied).
    pub fn forward_to(&self, x: &Tensor, stage: usize, train: bool) -> Tensor {
        let _autocast = self.precision().autocast(x.device());
        let mut h = self.normalize(x);
        for s in &self.stages[..=stage] {
            h = s.forward_t(&h, train);
        }
        Self::fp32(h)
    }

    /// Logits from the feature map after stage `stage` (stages stage+1.. applied).
    pub fn forward_from(&self, feat: &Tensor, stage: usize, train: bool) -> Tensor {
        let _autocast = self.precision().autocast(feat.device());
        let mut h = feat.shallow_clone();
        for s in &self.stages[stage + 1..] {
            h = s.forward_t(&h, train);
        }
        Self::fp32(h)
    }

    /// The output of every stage for images in [0,1]; the last is the logits.
    pub fn stage_outputs(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let _autocast = self.precision().autocast(x.device());
        let mut h = self.normalize(x);
        let mut outs = Vec::with_capacity(self.stages.len());
        for s in &self.stages {
            h = s.forward_t(&h, train);
            outs.push(Self::fp32(h.shallow_clone()));
        }
        outs
    }

    /// Logits for images in [0,1].
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_to(x, self.stages.len() - 1, train)
    }
}

/// `t` (N, C, H, W) with channels-last strides (H·W·C, 1, W·C, C), built from shape-free operations
/// so that a traced network (TorchScript) keeps any batch size. A one-channel image takes views
/// (H·W, 1, W, 1): permute-contiguous-permute would leave it in NCHW strides, since its NHWC copy is
/// a no-op, and every layer after it would then run in NCHW (docs/precision.md). Other ranks pass.
pub fn channels_last(t: &Tensor) -> Tensor {
    match t.size().as_slice() {
        [_, 1, _, _] => t.squeeze_dim(1).contiguous().unsqueeze(3).permute([0, 3, 1, 2]),
        [_, _, _, _] => t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]),
        _ => t.shallow_clone(),
    }
}

/// What a model is built for: input channels, classes, and the normalization it applies.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub in_channels: i64,
    pub num_classes: i64,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

type Builder = fn(&nn::Path, &ModelSpec) -> (Vec<&'static str>, Vec<Stage>);

/// A model in the registry.
pub struct ModelInfo {
    pub name: &'static str,
    pub summary: &'static str,
    build: Builder,
}

/// Every model, by name.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "small-cnn",
        summary: "3 conv layers + 2-layer classifier, for 28x28 inputs",
        build: small_cnn::build,
    },
    ModelInfo {
        name: "resnet20",
        summary: "CIFAR ResNet-20 (He et al. 2016, option A shortcuts)",
        build: |p, s| resnet_cifar::build(p, s, 3),
    },
    ModelInfo { name: "resnet32", summary: "CIFAR ResNet-32", build: |p, s| resnet_cifar::build(p, s, 5) },
    ModelInfo { name: "resnet56", summary: "CIFAR ResNet-56", build: |p, s| resnet_cifar::build(p, s, 9) },
    ModelInfo {
        name: "preact-resnet18",
        summary: "PreAct ResNet-18 (He et al. 2016b), CIFAR stem",
        build: preact::build,
    },
    ModelInfo { name: "wrn-16-2", summary: "Wide ResNet 16-2", build: |p, s| wrn::build(p, s, 16, 2) },
    ModelInfo { name: "wrn-16-4", summary: "Wide ResNet 16-4", build: |p, s| wrn::build(p, s, 16, 4) },
    ModelInfo { name: "wrn-28-10", summary: "Wide ResNet 28-10", build: |p, s| wrn::build(p, s, 28, 10) },
    ModelInfo {
        name: "wrn-34-10",
        summary: "Wide ResNet 34-10 (RobustBench's most common)",
        build: |p, s| wrn::build(p, s, 34, 10),
    },
    ModelInfo { name: "wrn-40-2", summary: "Wide ResNet 40-2", build: |p, s| wrn::build(p, s, 40, 2) },
    ModelInfo { name: "wrn-70-16", summary: "Wide ResNet 70-16", build: |p, s| wrn::build(p, s, 70, 16) },
    ModelInfo {
        name: "resnext29-4x32d",
        summary: "ResNeXt-29 4x32d as TENET and AugMix use it (docs/methods.md 2.6)",
        build: resnext::build,
    },
    ModelInfo {
        name: "resnet18",
        summary: "ResNet-18, ImageNet stem (torchvision layout)",
        build: |p, s| resnet_imagenet::build(p, s, false, [2, 2, 2, 2]),
    },
    ModelInfo {
        name: "resnet50",
        summary: "ResNet-50, ImageNet stem (torchvision layout)",
        build: |p, s| resnet_imagenet::build(p, s, true, [3, 4, 6, 3]),
    },
    ModelInfo {
        name: "resnet50-reid",
        summary: "ResNet-50 + ClassBlock (512-d, BN, dropout 0.5): LFM's re-ID baseline, last stride 2",
        build: |p, s| resnet_reid::build(p, s, 2),
    },
    ModelInfo {
        name: "resnet50-reid-s1",
        summary: "the same with last stride 1 (16 x 8 final map at 256 x 128)",
        build: |p, s| resnet_reid::build(p, s, 1),
    },
];

/// Looks a model up by name; the error lists the valid names.
pub fn find(name: &str) -> Result<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        Error::Config(format!("unknown model '{name}' (models: {})", names.join(", ")))
    })
}

/// Builds model `name` under `root` (variables named as the PyTorch module would name them).
pub fn build(root: &nn::Path, name: &str, spec: &ModelSpec) -> Result<Network> {
    let info = find(name)?;
    let c = spec.in_channels as usize;
    if spec.mean.len() != c || spec.std.len() != c || spec.std.iter().any(|&s| s <= 0.0) {
        return Err(Error::Config(format!(
            "model.mean/model.std (import: --mean/--std): the images have {c} channel(s), so the normalisation \
             needs {c} mean(s) and {c} positive std(s); got {:?} and {:?}",
            spec.mean, spec.std
        )));
    }
    let norm = root / "normalize";
    let shape = [1, spec.in_channels, 1, 1];
    let mut mean = norm.zeros_no_train("mean", &shape);
    let mut std = norm.ones_no_train("std", &shape);
    tch::no_grad(|| {
        mean.copy_(&Tensor::from_slice(&spec.mean).to_kind(Kind::Float).reshape(shape));
        std.copy_(&Tensor::from_slice(&spec.std).to_kind(Kind::Float).reshape(shape));
    });
    let (stage_names, stages) = (info.build)(root, spec);
    Ok(Network { name: name.to_string(), stage_names, stages, mean, std, precision: AtomicU8::new(0) })
}

/// Number of trainable parameters in a var store.
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}
