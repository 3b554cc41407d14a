//! Every recipe in configs/ and every method with its defaults resolve to the config.toml text kept
//! in tests/fixtures/resolved/: a change to how methods fill in their defaults shows here first.
//! `UPDATE_RESOLVED=1 cargo test --test recipes_resolve` rewrites the fixtures after a deliberate change.
use robustcnn::config::Config;
use robustcnn::methods;
use robustcnn::models::{self, ModelSpec};
use robustcnn::suite::Suite;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;

/// The recipe with its methods resolved and bound to its model, as train writes it to config.toml.
fn resolved_method(cfg: &Config) -> String {
    let mut cfg = cfg.clone();
    methods::resolve(&mut cfg.method);
    let spec = ModelSpec { in_channels: 3, num_classes: 10, mean: vec![0.5; 3], std: vec![0.25; 3] };
    let vs = VarStore::new(tch::Device::Cpu);
    let net = models::build(&vs.root(), &cfg.model.name, &spec).unwrap();
    methods::bind(&mut cfg.method, &net);
    cfg.to_toml()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resolved")
}

/// Compares with (or, under UPDATE_RESOLVED=1, rewrites) the fixture `name`.
fn check(name: &str, text: &str) {
    let path = fixtures().join(format!("{name}.toml"));
    if std::env::var_os("UPDATE_RESOLVED").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(text, kept, "{name} resolves differently from {}", path.display());
}

#[test]
fn recipes_resolve_as_kept() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        // Recipes written for a GPU are read here on the CPU.
        let cpu = ["train.device=\"cpu\"".to_string()];
        let text = std::fs::read_to_string(&path).unwrap();
        let resolved = if text.contains("[suite]") {
            // A suite: each run of the first seed, as the suite trains it.
            let suite = Suite::from_toml(&name, &text, &cpu).unwrap();
            let first = suite.runs[0].seed;
            let runs = suite.runs.iter().filter(|r| r.seed == first);
            runs.map(|r| format!("# run {}\n{}", r.name, resolved_method(&r.config))).collect::<Vec<_>>().join("\n")
        } else {
            resolved_method(&Config::load(Some(&path), &cpu).unwrap())
        };
        check(&format!("recipe-{name}"), &resolved);
        seen += 1;
    }
    assert!(seen >= 15, "read {seen} recipes from {}", dir.display());
}

#[test]
fn methods_and_compositions_resolve_as_kept() {
    let compositions = ["free-at+tenet", "tenet+augmix", "st+ca", "fma+ca", "cutout+random-erasing", "dropout+ca"];
    let names = methods::METHODS.iter().map(|m| m.name).chain(compositions);
    for name in names {
        let cfg = Config::load(None, &[format!("method.name=\"{name}\""), "model.name=resnet20".into()]).unwrap();
        check(&format!("method-{}", name.replace('+', "_")), &resolved_method(&cfg));
    }
}
