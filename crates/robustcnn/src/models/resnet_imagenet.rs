//! ResNet-18 and ResNet-50 with the ImageNet stem (7×7 stride-2 conv, max-pool), torchvision's names.
use super::blocks::{conv_bn, pool_linear_head, ConvBn};
use super::{ModelSpec, Stage};
use tch::nn::{self, ModuleT};

fn downsample(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Option<ConvBn> {
    (stride != 1 || cin != cout).then(|| conv_bn(p / "downsample" / 0, p / "downsample" / 1, cin, cout, 1, stride, 1))
}

/// relu(last(y) + shortcut(x)): the block's last convolution and batch norm, the residual and ReLU.
fn residual(x: &tch::Tensor, y: &tch::Tensor, last: &ConvBn, down: &Option<ConvBn>, train: bool) -> tch::Tensor {
    let s = match down {
        Some(cb) => cb.forward_t(x, train),
        None => x.shallow_clone(),
    };
    last.forward_add_relu_t(y, &s, train)
}

fn basic(p: nn::Path, cin: i64, planes: i64, stride: i64) -> (Box<dyn ModuleT>, i64) {
    let cb1 = conv_bn(&p / "conv1", &p / "bn1", cin, planes, 3, stride, 1);
    let cb2 = conv_bn(&p / "conv2", &p / "bn2", planes, planes, 3, 1, 1);
    let down = downsample(&p, cin, planes, stride);
    let f = nn::func_t(move |x, train| {
        let y = cb1.forward_relu_t(x, train);
        residual(x, &y, &cb2, &down, train)
    });
    (Box::new(f), planes)
}

fn bottleneck(p: nn::Path, cin: i64, planes: i64, stride: i64) -> (Box<dyn ModuleT>, i64) {
    let cout = planes * 4;
    let cb1 = conv_bn(&p / "conv1", &p / "bn1", cin, planes, 1, 1, 1);
    let cb2 = conv_bn(&p / "conv2", &p / "bn2", planes, planes, 3, stride, 1);
    let cb3 = conv_bn(&p / "conv3", &p / "bn3", planes, cout, 1, 1, 1);
    let down = downsample(&p, cin, cout, stride);
    let f = nn::func_t(move |x, train| {
        let y = cb1.forward_relu_t(x, train);
        let y = cb2.forward_relu_t(&y, train);
        residual(x, &y, &cb3, &down, train)
    });
    (Box::new(f), cout)
}

pub fn build(
    root: &nn::Path,
    spec: &ModelSpec,
    bottlenecks: bool,
    layers: [usize; 4],
) -> (Vec<&'static str>, Vec<Stage>) {
    let (mut names, mut stages, cin) = backbone(root, spec, bottlenecks, layers, 2, false);
    stages.push(pool_linear_head(root / "fc", cin, spec.num_classes));
    names.push("head");
    (names, stages)
}

/// The convolutional part, torchvision's names: its stage names, stages and output channels.
/// `last_stride` is layer4's first stride (re-ID baselines use 1); `split_stem` makes conv1 a
/// stage of its own, before bn1 (LFM's insertion point in its re-ID code, docs/reid.md §2).
pub fn backbone(
    root: &nn::Path,
    spec: &ModelSpec,
    bottlenecks: bool,
    layers: [usize; 4],
    last_stride: i64,
    split_stem: bool,
) -> (Vec<&'static str>, Vec<Stage>, i64) {
    let mut stages: Vec<Stage> = Vec::new();
    let mut names: Vec<&'static str> = Vec::new();
    if split_stem {
        let conv = nn::conv2d(
            root / "conv1",
            spec.in_channels,
            64,
            7,
            nn::ConvConfig { stride: 2, padding: 3, bias: false, ..Default::default() },
        );
        let norm = super::blocks::bn(root / "bn1", 64);
        stages.push(Box::new(nn::func_t(move |x, _| x.apply(&conv))));
        stages.push(Box::new(nn::func_t(move |x, train| {
            norm.forward_relu_t(x, train).max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
        })));
        names.extend(["conv1", "stem"]);
    } else {
        let stem = conv_bn(root / "conv1", root / "bn1", spec.in_channels, 64, 7, 2, 1);
        stages.push(Box::new(nn::func_t(move |x, train| {
            stem.forward_relu_t(x, train).max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
        })));
        names.push("stem");
    }
    let mut cin = 64;
    for (i, planes) in [64i64, 128, 256, 512].into_iter().enumerate() {
        let mut seq = nn::seq_t();
        for j in 0..layers[i] {
            let stride = match (i, j) {
                (3, 0) => last_stride,
                (1..=2, 0) => 2,
                _ => 1,
            };
            let p = root / format!("layer{}", i + 1) / j;
            let (block, cout) =
                if bottlenecks { bottleneck(p, cin, planes, stride) } else { basic(p, cin, planes, stride) };
            seq = seq.add_fn_t(move |x, train| block.forward_t(x, train));
            cin = cout;
        }
        stages.push(Box::new(seq));
    }
    names.extend(["stage1", "stage2", "stage3", "stage4"]);
    (names, stages, cin)
}
