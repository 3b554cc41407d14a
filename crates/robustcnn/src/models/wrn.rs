//! Wide ResNet d-k (Zagoruyko & Komodakis 2016): (d−4)/6 pre-activation blocks per stage,
//! widths 16k, 32k, 64k, 1×1 shortcut convolutions where the shape changes.
use super::blocks::{bn, conv, linear};
use super::{ModelSpec, Stage};
use tch::nn::{self, ModuleT};

fn wide_block(p: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    let b1 = bn(&p / "bn1", cin);
    let c1 = conv(&p / "conv1", cin, cout, 3, stride, 1);
    let b2 = bn(&p / "bn2", cout);
    let c2 = conv(&p / "conv2", cout, cout, 3, 1, 1);
    let short = (stride != 1 || cin != cout).then(|| conv(&p / "convShortcut", cin, cout, 1, stride, 1));
    nn::func_t(move |x, train| {
        let a = b1.forward_relu_t(x, train);
        let s = match &short {
            Some(c) => a.apply(c),
            None => x.shallow_clone(),
        };
        b2.forward_relu_t(&a.apply(&c1), train).apply(&c2) + s
    })
}

pub fn build(root: &nn::Path, spec: &ModelSpec, depth: i64, k: i64) -> (Vec<&'static str>, Vec<Stage>) {
    let n = (depth - 4) / 6;
    let mut stages: Vec<Stage> = vec![Box::new(conv(root / "conv1", spec.in_channels, 16, 3, 1, 1))];
    let mut cin = 16;
    for (i, cout) in [16 * k, 32 * k, 64 * k].into_iter().enumerate() {
        let mut seq = nn::seq_t();
        for j in 0..n {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            seq = seq.add(wide_block(root / format!("block{}", i + 1) / "layer" / j, cin, cout, stride));
            cin = cout;
        }
        stages.push(Box::new(seq));
    }
    let b = bn(root / "bn1", cin);
    let fc = linear(root / "fc", cin, spec.num_classes);
    stages.push(Box::new(nn::func_t(move |x, train| {
        b.forward_relu_t(x, train).adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc)
    })));
    (vec!["stem", "stage1", "stage2", "stage3", "head"], stages)
}
