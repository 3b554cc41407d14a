//! Entry points of the fuzz targets in `fuzz/` (RELIABILITY.md): each feeds arbitrary bytes to one
//! reader of user files, which must answer Ok or a clear Err and never panic. The tests run the same
//! functions over the seed corpus and every saved crash (`fuzz/corpus`, `fuzz/regressions`).
use crate::config::{apply_override, Config, OptimConfig};
use crate::data::{cifar, folder, idx};
use crate::error::{IoContext, Result};
use crate::report::{compare::compare, html, results::RunResults};
use crate::suite::Suite;
use crate::train::optim::Optimizer;
use crate::train::{checkpoint, LoopState};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device};

/// The fuzz targets, by name; `run(name, data)` calls the matching entry.
pub const TARGETS: &[&str] = &["idx", "cifar", "npy", "image", "config", "checkpoint", "run_results"];

/// Runs target `name` on `data`; false when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "idx" => idx_files(data),
        "cifar" => cifar_records(data),
        "npy" => npy_file(data),
        "image" => image_file(data),
        "config" => config_text(data),
        "checkpoint" => drop(load_tiny_checkpoint(data)),
        "run_results" => run_results(data),
        _ => return false,
    }
    true
}

/// Splits `data` in two: its first two bytes (big-endian) give the length of the first part.
fn split_in_two(data: &[u8]) -> (&[u8], &[u8]) {
    let [a, b, rest @ ..] = data else { return (&[], &[]) };
    rest.split_at((u16::from_be_bytes([*a, *b]) as usize).min(rest.len()))
}

/// IDX image and label files, raw or gzip (the Fashion-MNIST reader).
pub fn idx_files(data: &[u8]) {
    let (images, labels) = split_in_two(data);
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let files = ((Path::new("images-idx3-ubyte"), images.to_vec()), (Path::new("labels-idx1-ubyte"), labels.to_vec()));
    let _ = idx::from_file_bytes(files.0, files.1, &names);
}

/// CIFAR-10 and CIFAR-100 binary batch files.
pub fn cifar_records(data: &[u8]) {
    let path = Path::new("fuzz.bin");
    let _ = cifar::parse_records(path, data, 1, 0, 10);
    let _ = cifar::parse_records(path, data, 2, 1, 100);
}

/// `.npy` files (CIFAR-10-C and our `corrupt --out`).
pub fn npy_file(data: &[u8]) {
    let _ = corrupt::npy::parse(Path::new("fuzz.npy"), data);
}

/// One PNG or JPEG file of an image folder; the first byte picks the fit, channels and target size.
pub fn image_file(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else { return };
    let fit = [folder::Fit::Exact, folder::Fit::Resize, folder::Fit::CenterCrop][(mode % 3) as usize];
    let mut target = (mode & 4 != 0).then_some((1 + (mode as usize >> 4), 1 + (mode as usize & 15)));
    let _ = folder::decode_image(Path::new("fuzz.png"), bytes, &mut target, fit, mode & 8 != 0);
}

/// Training recipes, suite recipes and `--set` overrides.
pub fn config_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = Config::from_toml("fuzz.toml", text) {
        let _ = Config::from_toml("fuzz.toml", &cfg.to_toml());
    }
    let _ = Suite::from_toml("fuzz.toml", text, &[]);
    let mut table = toml::Table::new();
    for line in text.lines() {
        let _ = apply_override(&mut table, line);
    }
}

/// A small var store and its optimizer, the shape of what a checkpoint restores.
fn tiny_model() -> (VarStore, Optimizer) {
    let vs = VarStore::new(Device::Cpu);
    let root = vs.root();
    let _ = (&root / "conv").var("weight", &[2, 1, 3, 3], tch::nn::Init::Const(0.5));
    let _ = (&root / "fc").var("bias", &[2], tch::nn::Init::Const(0.0));
    let _ = (&root / "bn").zeros_no_train("running_mean", &[2]);
    let opt = Optimizer::new(&vs, &OptimConfig::default());
    (vs, opt)
}

/// The bytes of a checkpoint of [`tiny_model`], as training writes it (the fuzz seed).
pub fn tiny_checkpoint() -> Vec<u8> {
    let (vs, mut opt) = tiny_model();
    opt.steps = 7;
    let st = LoopState { epoch: 1, step: 7, ..Default::default() };
    let tensors = checkpoint::checkpoint_tensors(&vs, &opt, &[], &st);
    let path = scratch_dir().join("seed.safetensors");
    checkpoint::write_atomic(&path, &tensors).map(|_| std::fs::read(&path).unwrap_or_default()).unwrap_or_default()
}

/// The `checkpoint` target: loads checkpoint bytes into [`tiny_model`] as `--resume` does: weights, optimizer, loop state.
pub fn load_tiny_checkpoint(data: &[u8]) -> Result<LoopState> {
    let path = scratch_dir().join("checkpoint.safetensors");
    std::fs::write(&path, data).at(&path)?;
    let (vs, mut opt) = tiny_model();
    let tensors = checkpoint::read(&path)?;
    checkpoint::load_into(&vs, &path, &tensors)?;
    checkpoint::restore_loop(&path, &tensors, &mut opt)
}

/// Removes this process's scratch folder (the tests call it when done; a fuzzer's is left to the OS).
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch_dir());
}

/// A folder of this process for files that readers take by path (created when missing).
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("robustcnn-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A finished run's results (clean.json, corruptions.json, attacks.json and metrics.jsonl, split
/// at 0xFF bytes), read, compared and rendered as `compare` and `report` do.
pub fn run_results(data: &[u8]) {
    let run = scratch_dir().join("run");
    let results = run.join("results");
    if std::fs::create_dir_all(&results).is_err() {
        return;
    }
    if !run.join("config.toml").is_file()
        && std::fs::write(run.join("config.toml"), Config::default().to_toml()).is_err()
    {
        return;
    }
    let mut parts = data.split(|&b| b == 0xFF);
    for file in ["results/clean.json", "results/corruptions.json", "results/attacks.json", "metrics.jsonl"] {
        let _ = match parts.next() {
            Some(bytes) => std::fs::write(run.join(file), bytes),
            None => std::fs::remove_file(run.join(file)),
        };
    }
    let Ok(r) = RunResults::load(&run) else { return };
    let mut other = r.clone();
    other.seed += 1;
    other.method = "other".into();
    let runs = [r.clone(), other, r];
    let cmp = compare(&runs, Some("other"));
    let _ = (cmp.markdown(), cmp.csv(), serde_json::to_string(&cmp));
    let _ = html::report("fuzz", "", &cmp, &runs);
}
