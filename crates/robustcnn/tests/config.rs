//! Recipes: unknown keys rejected by name, overrides, value checks.
use robustcnn::config::{Config, OptimName};

fn err(text: &str) -> String {
    Config::from_toml("recipe.toml", text).expect_err("expected an error").to_string()
}

#[test]
fn defaults_and_overrides() {
    let c = Config::load(
        None,
        &[
            "optim.lr=0.05".into(),
            "model.name=resnet20".into(),
            "data.augment.flip=false".into(),
            "data.augment.crop_padding=4".into(),
        ],
    )
    .unwrap();
    assert_eq!(c.optim.lr, 0.05);
    assert_eq!(c.model.name, "resnet20");
    assert_eq!(c.data.augment.unwrap().crop_padding, Some(4));
    assert_eq!(c.optim.name, OptimName::Sgd);
    let text = c.to_toml();
    assert_eq!(Config::from_toml("round-trip", &text).unwrap(), c);
}

#[test]
fn unknown_keys_are_named() {
    let e = err("[optim]\nlrr = 0.1\n");
    assert!(e.starts_with("recipe.toml: "), "{e}");
    assert!(e.contains("unknown field `lrr`"), "{e}");
    let e = err("[trainer]\nepochs = 1\n");
    assert!(e.contains("unknown field `trainer`"), "{e}");
}

#[test]
fn bad_values_are_named() {
    assert!(err("[model]\nname = \"vgg\"\n").contains("unknown model 'vgg' (models: small-cnn, resnet20"));
    assert!(err("[data]\ndataset = \"svhn\"\n").contains("unknown dataset 'svhn'"));
    assert!(err("[optim]\nlr = -1.0\n").contains("optim.lr must be a positive number"));
    assert!(err("[data]\nval_fraction = 1.5\n").contains("data.val_fraction must be in [0, 1)"));
    assert!(err("[data]\nbatch_size = 0\n").contains("data.batch_size must be at least 1"));
    assert!(err("[train]\nlog_every = 0\n").contains("train.log_every must be at least 1"));
    assert!(err("[train]\ndevice = \"tpu\"\n").contains("--device tpu: expected cpu, cuda or cuda:N"));
    assert!(err("[optim]\nname = \"lion\"\n").contains("unknown variant `lion`"));
    assert!(err("[optim\n").starts_with("recipe.toml: "));
}

#[test]
fn override_syntax_errors() {
    let e = Config::load(None, &["optim.lr".into()]).unwrap_err().to_string();
    assert!(e.contains("--set optim.lr: expected KEY=VALUE"), "{e}");
    let e = Config::load(None, &["optim.lr=fast".into()]).unwrap_err().to_string();
    assert!(e.contains("optim.lr"), "{e}");
}

#[test]
fn cuda_device_is_refused_clearly_without_a_gpu() {
    if tch::Cuda::is_available() {
        return;
    }
    let e = robustcnn::device::parse("cuda").unwrap_err().to_string();
    assert!(e.contains("--device cuda: libtorch sees 0 CUDA device(s)"), "{e}");
}

#[test]
fn every_committed_recipe_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let (mut seen, mut suites) = (0, 0);
    // GPU recipes are checked as if on this machine's CPU.
    let cpu = ["train.device=\"cpu\"".to_string()];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if std::fs::read_to_string(&path).unwrap().contains("\n[suite]") {
                let s = robustcnn::suite::Suite::load(&path, &cpu).unwrap_or_else(|e| panic!("{e}"));
                assert!(s.runs.iter().any(|r| r.method == s.grid.baseline));
                suites += 1;
            } else {
                Config::load(Some(&path), &cpu).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
    }
    assert!(seen >= 19, "{seen} recipes");
    assert!(suites >= 3, "{suites} suites: the demo, Fashion-MNIST, CIFAR-10");
}
