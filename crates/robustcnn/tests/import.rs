//! State dicts trained elsewhere (docs/imported.md): the zoo carries torchvision's, timm's and
//! RobustBench's names and shapes, imported torchvision and timm ResNets, a RobustBench WRN and a
//! scripted module give PyTorch's logits, pickled
//! checkpoints read through libtorch, and every mismatch is one error listing them all. The
//! fixtures come from scripts/import-fixtures.py.
use robustcnn::models::import::{self, Source};
use robustcnn::models::{self, ModelSpec, Network};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(name)
}

fn build(arch: &str, classes: i64, source: Source) -> (VarStore, Network) {
    let vs = VarStore::new(tch::Device::Cpu);
    let (mean, std) = source.normalization();
    let spec = ModelSpec { in_channels: 3, num_classes: classes, mean, std };
    let net = models::build(&vs.root(), arch, &spec).unwrap();
    (vs, net)
}

fn wrn_state() -> Vec<(String, Tensor)> {
    import::read_state_dict(&fixture("wrn16_2_robustbench.safetensors")).unwrap()
}

#[test]
fn the_zoo_carries_its_sources_names_and_shapes() {
    let text = std::fs::read_to_string(fixture("names.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (key, list) in v["models"].as_object().unwrap() {
        let (source, arch) = key.split_once('/').unwrap();
        let source = Source::parse(source).unwrap();
        source.check_arch(arch).unwrap();
        let classes = if source == Source::RobustBench { 10 } else { 1000 };
        let (vs, _net) = build(arch, classes, source);
        let ours: BTreeMap<String, Vec<i64>> = vs
            .variables()
            .into_iter()
            .filter(|(n, _)| !n.starts_with("normalize."))
            .map(|(n, t)| (n, t.size()))
            .collect();
        let theirs: BTreeMap<String, Vec<i64>> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_str().unwrap().to_string(), serde_json::from_value(e[1].clone()).unwrap()))
            .filter(|(n, _): &(String, Vec<i64>)| !n.ends_with("num_batches_tracked"))
            .collect();
        assert_eq!(ours, theirs, "{key}");
    }
}

#[test]
fn an_imported_robustbench_wrn_gives_pytorchs_logits() {
    let (vs, net) = build("wrn-16-2", 10, Source::RobustBench);
    let file = fixture("wrn16_2_robustbench.safetensors");
    let mapping = import::load_state_dict(&vs, &file, "wrn-16-2", wrn_state(), false).unwrap();
    assert_eq!(mapping.loaded, vs.variables().len() - 2, "every variable but the normalisation");
    assert!(mapping.set_aside.iter().all(|(n, _)| n.ends_with("num_batches_tracked")), "{:?}", mapping.set_aside);
    assert_eq!(mapping.set_aside_counts(), [("batch-norm step counter, unused in evaluation", 13)]);
    let io: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(fixture("wrn16_2_io.safetensors")).unwrap().into_iter().collect();
    let logits = tch::no_grad(|| net.forward(&io["input"], false));
    let diff = (&logits - &io["logits"]).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "largest difference from PyTorch's logits: {diff}");
}

/// Tensor `k` of a state dict as scripts/import-fixtures.py's `patterned` fills it:
/// u_i = frac((i + 1) φ + k √2) in f64, scaled by the tensor's kind.
fn patterned(k: usize, name: &str, shape: &[i64]) -> Tensor {
    const PHI: f64 = 0.6180339887498949;
    let n: i64 = shape.iter().product();
    if name.ends_with("num_batches_tracked") {
        return Tensor::zeros(shape, (Kind::Int64, tch::Device::Cpu));
    }
    let fan_in = if shape.len() > 1 { (n / shape[0]) as f64 } else { 1.0 };
    let values: Vec<f32> = (0..n)
        .map(|i| {
            let u = ((i as f64 + 1.0) * PHI + k as f64 * std::f64::consts::SQRT_2) % 1.0;
            let v = if name.ends_with("running_var") {
                0.5 + u
            } else if name.ends_with("running_mean") || name.ends_with("bias") {
                (2.0 * u - 1.0) * 0.1
            } else if shape.len() == 1 {
                0.25 + 0.5 * u
            } else {
                (2.0 * u - 1.0) * (3.0 / fan_in).sqrt()
            };
            v as f32
        })
        .collect();
    Tensor::from_slice(&values).reshape(shape)
}

#[test]
fn imported_torchvision_and_timm_resnets_give_pytorchs_logits() {
    // Full-size ResNets with patterned weights: the file is written here, PyTorch's logits are the fixture's.
    let names: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("names.json")).unwrap()).unwrap();
    let io: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(fixture("resnet_io.safetensors")).unwrap().into_iter().collect();
    let dir = tempfile::tempdir().unwrap();
    for key in ["torchvision/resnet18", "torchvision/resnet50", "timm/resnet50"] {
        let (source, arch) = key.split_once('/').unwrap();
        let state: Vec<(String, Tensor)> = names["models"][key]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let name = e[0].as_str().unwrap().to_string();
                let shape: Vec<i64> = serde_json::from_value(e[1].clone()).unwrap();
                let t = patterned(k, &name, &shape);
                (name, t)
            })
            .collect();
        let file = dir.path().join(format!("{source}-{arch}.safetensors"));
        Tensor::write_safetensors(&state, &file).unwrap();
        let (vs, net) = build(arch, 1000, Source::parse(source).unwrap());
        let mapping =
            import::load_state_dict(&vs, &file, arch, import::read_state_dict(&file).unwrap(), false).unwrap();
        assert_eq!(mapping.loaded, vs.variables().len() - 2, "{key}: every variable but the normalisation");
        let logits = tch::no_grad(|| net.forward(&io["input"], false));
        let reference = &io[key];
        let diff = (&logits - reference).abs().max().double_value(&[]);
        let scale = reference.abs().max().double_value(&[]);
        assert!(
            diff < 1e-4 * scale.max(1.0),
            "{key}: largest difference from PyTorch's logits {diff} (logits up to {scale})"
        );
    }
}

#[test]
fn a_scripted_pytorch_module_gives_pytorchs_logits_and_input_gradients() {
    let io: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(fixture("small_cnn_io.safetensors")).unwrap().into_iter().collect();
    let x = &io["input"];
    let file = fixture("small_cnn_scripted.pt");
    let net = models::torchscript::load(&file, tch::Device::Cpu, (&[], &[]), &x.narrow(0, 0, 3), 10).unwrap();
    let x = x.copy().set_requires_grad(true);
    let logits = net.forward(&x, false);
    let diff = (&logits - &io["logits"]).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "largest difference from PyTorch's logits (eval mode, its batch norms' statistics): {diff}");
    let labels = Tensor::arange(8, (Kind::Int64, tch::Device::Cpu));
    let loss = -logits.log_softmax(1, Kind::Float).gather(1, &labels.unsqueeze(1), false).sum(Kind::Float);
    loss.backward();
    let grad = x.grad();
    let diff = (&grad - &io["input_grad"]).abs().max().double_value(&[]);
    let scale = io["input_grad"].abs().max().double_value(&[]);
    assert!(diff < 1e-4 * scale, "largest difference from PyTorch's input gradient: {diff} (gradient up to {scale})");
}

#[test]
fn a_pickled_checkpoint_reads_through_libtorch_and_carries_its_normalisation() {
    let file = fixture("wrn16_2_partial.pt");
    let tensors = import::read_state_dict(&file).unwrap();
    let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.iter().all(|n| n.starts_with("module.")), "{names:?}");
    assert_eq!(names.len(), 6, "the first four tensors and mu, sigma: {names:?}");
    let full: BTreeMap<String, Tensor> = wrn_state().into_iter().collect();
    let conv1 = &tensors.iter().find(|(n, _)| n == "module.conv1.weight").unwrap().1;
    assert!(conv1.to_kind(Kind::Half).equal(&full["conv1.weight"]), "the same weights as the safetensors file");
    // Imported alone it is incomplete: one error lists what is missing; mu and sigma are not unexpected.
    let (vs, _) = build("wrn-16-2", 10, Source::RobustBench);
    let e = import::load_state_dict(&vs, &file, "wrn-16-2", tensors, false).unwrap_err().to_string();
    assert!(e.contains("does not match wrn-16-2: missing ") && e.contains("and ") && !e.contains("unexpected"), "{e}");
    // Completed with the rest, mu and sigma become the model's normalisation.
    let mut complete = import::read_state_dict(&file).unwrap();
    let have: Vec<String> = complete.iter().map(|(n, _)| n.clone()).collect();
    let rest = wrn_state().into_iter().map(|(n, t)| (format!("module.{n}"), t)).filter(|(n, _)| !have.contains(n));
    complete.extend(rest.collect::<Vec<_>>());
    let mapping = import::load_state_dict(&vs, &file, "wrn-16-2", complete, false).unwrap();
    let (mean, std) = mapping.normalization.unwrap();
    assert!((mean[0] - 0.4914).abs() < 1e-6 && (std[2] - 0.2616).abs() < 1e-6, "{mean:?} {std:?}");
}

#[test]
fn every_mismatch_is_listed_in_one_error_and_new_head_starts_a_fresh_classifier() {
    let file = fixture("wrn16_2_robustbench.safetensors");
    let mut state: Vec<(String, Tensor)> = wrn_state().into_iter().filter(|(n, _)| n != "bn1.running_var").collect();
    state.push(("extra.weight".into(), Tensor::zeros([3], (Kind::Float, tch::Device::Cpu))));
    let (vs, _) = build("wrn-16-2", 5, Source::RobustBench);
    let e = import::load_state_dict(&vs, &file, "wrn-16-2", state, false).unwrap_err().to_string();
    for part in [
        "missing 1: bn1.running_var",
        "unexpected 1: extra.weight",
        "wrong shape 2: fc.bias [10] (the model's: [5])",
        "pass --new-head to start a fresh one for this dataset",
    ] {
        assert!(e.contains(part), "'{part}' in: {e}");
    }
    let fresh = vs.variables()["fc.weight"].copy();
    let mapping = import::load_state_dict(&vs, &file, "wrn-16-2", wrn_state(), true).unwrap();
    assert!(mapping.new_head);
    assert!(vs.variables()["fc.weight"].equal(&fresh), "the new head keeps its initialisation");
    let conv1 = wrn_state().into_iter().find(|(n, _)| n == "conv1.weight").unwrap().1;
    assert!(vs.variables()["conv1.weight"].equal(&conv1.to_kind(Kind::Float)), "the rest is the file's");
}

#[test]
fn unreadable_files_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("wrn16_2_robustbench.safetensors")).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = import::read_state_dict(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.safetensors") && e.contains("not a readable safetensors file"), "{e}");
    let not_pickle = dir.path().join("model.pt");
    std::fs::write(&not_pickle, b"not a pickle at all").unwrap();
    let e = import::read_state_dict(&not_pickle).unwrap_err().to_string();
    assert!(e.contains("libtorch cannot read this pickle") && e.contains("st.save_file"), "{e}");
    let e = import::read_state_dict(&dir.path().join("weights.h5")).unwrap_err().to_string();
    assert!(e.contains("weights.h5"), "{e}");
    let other = dir.path().join("weights.onnx");
    std::fs::write(&other, b"x").unwrap();
    let e = import::read_state_dict(&other).unwrap_err().to_string();
    assert!(e.contains("expected a .safetensors file or a .pt/.pth PyTorch pickle"), "{e}");
    let e = Source::RobustBench.check_arch("resnet50").unwrap_err().to_string();
    assert_eq!(e, "--arch resnet50: robustbench state dicts map onto wrn-28-10, wrn-34-10, wrn-70-16, wrn-16-2, wrn-16-4, wrn-40-2, preact-resnet18 (robustcnn models)");
}

#[test]
fn a_torchvision_resnet50_becomes_the_re_id_backbone_with_a_fresh_class_block() {
    // A torchvision ResNet-50 state dict: the zoo's resnet50 carries its names and shapes.
    let (tv, _) = build("resnet50", 1000, Source::Torchvision);
    let state: Vec<(String, Tensor)> =
        tv.variables().into_iter().filter(|(n, _)| !n.starts_with("normalize.")).collect();
    let conv1 = state.iter().find(|(n, _)| n == "conv1.weight").unwrap().1.shallow_clone();
    let (vs, net) = build("resnet50-reid", 751, Source::Torchvision);
    let file = Path::new("resnet50.safetensors");
    let e = import::load_state_dict(
        &vs,
        file,
        "resnet50-reid",
        state.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect(),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("classifier.add_block.0.weight") && e.contains("fc.weight") && e.contains("--new-head"), "{e}");
    let m = import::load_state_dict(&vs, file, "resnet50-reid", state, true).unwrap();
    assert!(m.set_aside.iter().any(|(n, _)| n == "fc.weight"), "{:?}", m.set_aside);
    assert!(vs.variables()["conv1.weight"].equal(&conv1), "the backbone is the file's");
    assert_eq!(net.stages(), ["conv1", "stem", "stage1", "stage2", "stage3", "stage4", "embed", "head"]);
    let x = Tensor::rand([2, 3, 64, 32], (Kind::Float, tch::Device::Cpu));
    assert_eq!(robustcnn::eval::retrieval::features(&net, &x).size(), [2, 512], "the ClassBlock's bottleneck");
}
