//! CIFAR ResNet-20/32/56 (He et al. 2016, §4.2): 3 stages of n basic blocks, 16/32/64 channels,
//! parameter-free "option A" shortcuts (strided identity, zero-padded channels).
use super::blocks::{conv_bn, pool_linear_head};
use super::{ModelSpec, Stage};
use tch::nn::{self, ModuleT};

fn basic_block(p: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    let cb1 = conv_bn(&p / "conv1", &p / "bn1", cin, cout, 3, stride, 1);
    let cb2 = conv_bn(&p / "conv2", &p / "bn2", cout, cout, 3, 1, 1);
    nn::func_t(move |x, train| {
        let y = cb1.forward_relu_t(x, train);
        let short = if stride != 1 || cin != cout {
            let pad = (cout - cin) / 2;
            x.slice(2, 0, None, stride).slice(3, 0, None, stride).constant_pad_nd([0, 0, 0, 0, pad, cout - cin - pad])
        } else {
            x.shallow_clone()
        };
        cb2.forward_add_relu_t(&y, &short, train)
    })
}

pub fn build(root: &nn::Path, spec: &ModelSpec, n: usize) -> (Vec<&'static str>, Vec<Stage>) {
    let stem = conv_bn(root / "conv1", root / "bn1", spec.in_channels, 16, 3, 1, 1);
    let mut stages: Vec<Stage> = vec![Box::new(nn::func_t(move |x, train| stem.forward_relu_t(x, train)))];
    let mut cin = 16;
    for (i, cout) in [16i64, 32, 64].into_iter().enumerate() {
        let mut seq = nn::seq_t();
        for j in 0..n {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            seq = seq.add(basic_block(root / format!("layer{}", i + 1) / j, cin, cout, stride));
            cin = cout;
        }
        stages.push(Box::new(seq));
    }
    stages.push(pool_linear_head(root / "fc", 64, spec.num_classes));
    (vec!["stem", "stage1", "stage2", "stage3", "head"], stages)
}
