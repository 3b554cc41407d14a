//! The re-ID baseline of LFM's released code (the layumi baseline): an ImageNet ResNet-50 whose
//! pooled 2,048 features go through a ClassBlock, Linear 2048→512, BN1d, dropout 0.5, then a
//! classifier over the training identities (docs/reid.md §2). Names follow that code's
//! `classifier.add_block.{0,1}` and `classifier.classifier.0`, the backbone torchvision's.
use super::blocks::Norm;
use super::resnet_imagenet::backbone;
use super::{ModelSpec, Stage};
use tch::nn::{self, Init};

/// The 512-d bottleneck retrieval ranks by.
pub const EMBEDDING: i64 = 512;

pub fn build(root: &nn::Path, spec: &ModelSpec, last_stride: i64) -> (Vec<&'static str>, Vec<Stage>) {
    let (mut names, mut stages, cin) = backbone(root, spec, true, [3, 4, 6, 3], last_stride, true);
    let block = root / "classifier";
    // The code's initialisation: Kaiming (fan-out) linear, BN weight N(1, 0.02), classifier N(0, 0.001).
    let kaiming = Init::Kaiming {
        dist: nn::init::NormalOrUniform::Normal,
        fan: nn::init::FanInOut::FanOut,
        non_linearity: nn::init::NonLinearity::ReLU,
    };
    let add = &block / "add_block";
    let fc = nn::linear(
        &add / 0,
        cin,
        EMBEDDING,
        nn::LinearConfig { ws_init: kaiming, bs_init: Some(Init::Const(0.0)), bias: true },
    );
    let bn_cfg = nn::BatchNormConfig {
        ws_init: Init::Randn { mean: 1.0, stdev: 0.02 },
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    let norm = Norm {
        inner: nn::batch_norm1d(&add / 1, EMBEDDING, bn_cfg),
        eps: super::blocks::BN_EPS,
        momentum: super::blocks::BN_MOMENTUM,
    };
    let out = nn::linear(
        &block / "classifier" / 0,
        EMBEDDING,
        spec.num_classes,
        nn::LinearConfig {
            ws_init: Init::Randn { mean: 0.0, stdev: 0.001 },
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        },
    );
    stages.push(Box::new(nn::func_t(move |x, train| {
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc).apply_t(&norm, train)
    })));
    stages.push(Box::new(nn::func_t(move |x, train| x.dropout(0.5, train).apply(&out))));
    names.extend(["embed", "head"]);
    (names, stages)
}
