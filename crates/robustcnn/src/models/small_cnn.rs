//! A small CNN for 28×28 inputs: three 3×3 conv-BN-ReLU layers with two 2×2 max-pools, then a
//! two-layer classifier on the flattened 64×7×7 map (position matters on images this small).
use super::blocks::{conv_bn, linear};
use super::{ModelSpec, Stage};
use tch::nn;

fn conv_bn_relu(root: &nn::Path, i: usize, cin: i64, cout: i64, pool: bool) -> Stage {
    let cb = conv_bn(root / format!("conv{i}"), root / format!("bn{i}"), cin, cout, 3, 1, 1);
    Box::new(nn::func_t(move |x, train| {
        let y = cb.forward_relu_t(x, train);
        if pool {
            y.max_pool2d_default(2)
        } else {
            y
        }
    }))
}

pub fn build(root: &nn::Path, spec: &ModelSpec) -> (Vec<&'static str>, Vec<Stage>) {
    let fc1 = linear(root / "fc1", 64 * 7 * 7, 128);
    let fc2 = linear(root / "fc2", 128, spec.num_classes);
    let head = nn::func_t(move |x, _| {
        // Inputs other than 28×28 are pooled to the 7×7 grid the classifier expects.
        x.adaptive_avg_pool2d([7, 7]).flatten(1, -1).apply(&fc1).relu().apply(&fc2)
    });
    let stages = vec![
        conv_bn_relu(root, 1, spec.in_channels, 32, false),
        conv_bn_relu(root, 2, 32, 64, true),
        conv_bn_relu(root, 3, 64, 64, true),
        Box::new(head) as Stage,
    ];
    (vec!["stem", "stage1", "stage2", "head"], stages)
}
