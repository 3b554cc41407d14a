//! PreAct ResNet-18 (He et al. 2016, "Identity mappings"), CIFAR stem, in the common PyTorch layout.
use super::blocks::{bn, conv, linear};
use super::{ModelSpec, Stage};
use tch::nn::{self, ModuleT};

fn preact_block(p: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    let b1 = bn(&p / "bn1", cin);
    let c1 = conv(&p / "conv1", cin, cout, 3, stride, 1);
    let b2 = bn(&p / "bn2", cout);
    let c2 = conv(&p / "conv2", cout, cout, 3, 1, 1);
    let short = (stride != 1 || cin != cout).then(|| conv(&p / "shortcut" / 0, cin, cout, 1, stride, 1));
    nn::func_t(move |x, train| {
        let a = b1.forward_relu_t(x, train);
        let s = match &short {
            Some(c) => a.apply(c),
            None => x.shallow_clone(),
        };
        let y = a.apply(&c1);
        b2.forward_relu_t(&y, train).apply(&c2) + s
    })
}

pub fn build(root: &nn::Path, spec: &ModelSpec) -> (Vec<&'static str>, Vec<Stage>) {
    let mut stages: Vec<Stage> = vec![Box::new(conv(root / "conv1", spec.in_channels, 64, 3, 1, 1))];
    let mut cin = 64;
    for (i, cout) in [64i64, 128, 256, 512].into_iter().enumerate() {
        let mut seq = nn::seq_t();
        for j in 0..2 {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            seq = seq.add(preact_block(root / format!("layer{}", i + 1) / j, cin, cout, stride));
            cin = cout;
        }
        stages.push(Box::new(seq));
    }
    let b = bn(root / "bn", 512);
    let fc = linear(root / "linear", 512, spec.num_classes);
    stages.push(Box::new(nn::func_t(move |x, train| {
        b.forward_relu_t(x, train).adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc)
    })));
    (vec!["stem", "stage1", "stage2", "stage3", "stage4", "head"], stages)
}
