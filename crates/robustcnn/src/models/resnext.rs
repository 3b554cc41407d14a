//! ResNeXt-29 4×32d for 32×32 inputs as TENET and AugMix define it (docs/methods.md §2.6), AugMix's names.
use super::blocks::{conv_bn, linear};
use super::{ModelSpec, Stage};
use tch::nn::{self, ModuleT};

const CARDINALITY: i64 = 4;
const BASE_WIDTH: i64 = 32;
const WIDEN: i64 = 4;

fn bottleneck(p: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    // D = cardinality × ⌊base_width × out / (widen × 64)⌋ (docs/methods.md §2.6): 128, 256, 512.
    let d = CARDINALITY * (BASE_WIDTH * cout / (WIDEN * 64));
    let reduce = conv_bn(&p / "conv_reduce", &p / "bn_reduce", cin, d, 1, 1, 1);
    let grouped = conv_bn(&p / "conv_conv", &p / "bn", d, d, 3, stride, CARDINALITY);
    let expand = conv_bn(&p / "conv_expand", &p / "bn_expand", d, cout, 1, 1, 1);
    let short = (cin != cout)
        .then(|| conv_bn(&p / "shortcut" / "shortcut_conv", &p / "shortcut" / "shortcut_bn", cin, cout, 1, stride, 1));
    nn::func_t(move |x, train| {
        let y = reduce.forward_relu_t(x, train);
        let y = grouped.forward_relu_t(&y, train);
        let s = match &short {
            Some(cb) => cb.forward_t(x, train),
            None => x.shallow_clone(),
        };
        expand.forward_add_relu_t(&y, &s, train)
    })
}

pub fn build(root: &nn::Path, spec: &ModelSpec) -> (Vec<&'static str>, Vec<Stage>) {
    let stem = conv_bn(root / "conv_1_3x3", root / "bn_1", spec.in_channels, 64, 3, 1, 1);
    let mut stages: Vec<Stage> = vec![Box::new(nn::func_t(move |x, train| stem.forward_relu_t(x, train)))];
    let mut cin = 64;
    for (i, (cout, stride)) in [(256i64, 1i64), (512, 2), (1024, 2)].into_iter().enumerate() {
        let name = format!("stage_{}", i + 1);
        let mut seq = nn::seq_t();
        for j in 0..3 {
            let p = root / name.as_str() / format!("{name}_bottleneck_{j}");
            seq = seq.add(bottleneck(p, cin, cout, if j == 0 { stride } else { 1 }));
            cin = cout;
        }
        stages.push(Box::new(seq));
    }
    let fc = linear(root / "classifier", 1024, spec.num_classes);
    stages.push(Box::new(nn::func_t(move |x, _| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc))));
    (vec!["stem", "stage1", "stage2", "stage3", "head"], stages)
}
