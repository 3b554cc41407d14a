//! Training configuration: TOML recipes with unknown keys rejected, overridable from the command line.
use crate::data::augment::AugmentKeys;
pub use crate::data::augment_settings::{CaConfig, Granularity};
use crate::data::folder::Fit;
use crate::error::{one_line, Error, IoContext, Result};
pub use crate::methods::adversarial::{AdversarialConfig, AttackMode};
pub use crate::methods::augmix::AugMixConfig;
pub use crate::methods::cutout::CutoutConfig;
pub use crate::methods::dropout::DropoutConfig;
pub use crate::methods::fma::{FmaCe, FmaConfig, FmaDistance};
pub use crate::methods::lfm::{LfmConfig, LfmFill, LfmGate, LfmRegion};
pub use crate::methods::random_erasing::{ErasingConfig, ErasingFill};
pub use crate::methods::settings::MethodConfig;
pub use crate::methods::stability::StConfig;
pub use crate::methods::tenet::TenetConfig;
use crate::precision::Precision;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A whole training recipe.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub train: TrainConfig,
    pub method: MethodConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A name from `robustcnn data list`.
    pub dataset: String,
    pub data_dir: Option<PathBuf>,
    /// Fraction of each training class held out for validation and model selection.
    pub val_fraction: f64,
    /// Train on this stratified fraction of the training split (drawn from train.seed, the same
    /// subset for every method): the low-data regime.
    pub train_fraction: f64,
    pub batch_size: usize,
    /// Background threads preparing batches.
    pub workers: usize,
    /// Training augmentation; the dataset's default for each key left out.
    pub augment: Option<AugmentKeys>,
    /// Image folders only: [height, width] to bring images to, how, and whether to read them as gray.
    pub image_size: Option<[usize; 2]>,
    pub fit: Option<Fit>,
    pub grayscale: bool,
    /// CUB, ImageNet, VOC: decode training images when batches need them rather than at once
    /// (unset: when the decoded split would exceed 8 GiB; docs/datasets.md §Memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand: Option<bool>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dataset: "fashion-mnist-mini".into(),
            data_dir: None,
            val_fraction: 0.1,
            train_fraction: 1.0,
            batch_size: 128,
            workers: 2,
            augment: None,
            image_size: None,
            fit: None,
            grayscale: false,
            on_demand: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// A name from `robustcnn models`.
    pub name: String,
    /// Per-channel normalization inside the model; computed from the training split when absent.
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { name: "small-cnn".into(), mean: None, std: None }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimName {
    Sgd,
    Adamw,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Per-step cosine from lr to min_lr (AugMix / TENET, docs/methods.md §2.8).
    Cosine,
    /// Multiply by gamma at each milestone epoch.
    Step,
    Constant,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub name: OptimName,
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub schedule: Schedule,
    pub min_lr: f64,
    /// Linear warm-up length in epochs (fractions allowed).
    pub warmup_epochs: f64,
    /// Step schedule: epochs at which the rate is multiplied by gamma.
    pub milestones: Vec<f64>,
    pub gamma: f64,
    pub label_smoothing: f64,
    /// The learning rate of every parameter outside the classifier (`fc.`, `linear.`,
    /// `classifier.`) as a multiple of `lr`: 0.1 finetunes a pretrained backbone as the re-ID
    /// baseline does (docs/reid.md §2).
    #[serde(skip_serializing_if = "is_one")]
    pub backbone_lr_scale: f64,
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            name: OptimName::Sgd,
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            betas: [0.9, 0.999],
            eps: 1e-8,
            schedule: Schedule::Cosine,
            min_lr: 0.0,
            warmup_epochs: 0.0,
            milestones: Vec::new(),
            gamma: 0.1,
            label_smoothing: 0.0,
            backbone_lr_scale: 1.0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Total optimizer steps; overrides epochs when set.
    pub steps: Option<usize>,
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    pub device: String,
    /// fp32, bf16 or fp16 (CUDA, with a dynamic loss scaler): the training steps in mixed precision
    /// through autocast, weights kept in fp32 (docs/precision.md). Evaluations run in fp32.
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
    /// Write a step record to metrics.jsonl every this many steps.
    pub log_every: usize,
    /// Start from these weights (a run directory, whose best or last weights are used, or a
    /// .safetensors file) instead of a fresh initialisation: finetuning, as CA and FMA do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// In a distributed job, batch norms normalise over the batches of every rank (SyncBN), not
    /// per rank (docs/distributed.md §2).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sync_batchnorm: bool,
    /// On CUDA, let cuDNN time its convolution algorithms on the first batches and keep the fastest
    /// (`torch.backends.cudnn.benchmark`); faster for fixed input sizes, not bitwise reproducible.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cudnn_benchmark: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            steps: None,
            seed: 0,
            device: "cpu".into(),
            precision: Precision::Fp32,
            log_every: 50,
            init: None,
            sync_batchnorm: false,
            cudnn_benchmark: false,
        }
    }
}

impl Config {
    /// Parses TOML text; `origin` names the file in errors.
    pub fn from_toml(origin: &str, text: &str) -> Result<Config> {
        let value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::Config(format!("{origin}: {}", one_line(&e.to_string()))))?;
        Self::from_table(origin, value)
    }

    pub fn from_table(origin: &str, table: toml::Table) -> Result<Config> {
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("{origin}: {}", one_line(&e.to_string()))))?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Reads a TOML file, then applies `key=value` overrides (value in TOML syntax, bare strings allowed).
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config> {
        let (origin, mut table) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).at(p)?;
                let t: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                    Error::Config(format!("{}: {}", p.display(), one_line(&e.to_string())))
                })?;
                (p.display().to_string(), t)
            }
            None => ("defaults".to_string(), toml::Table::new()),
        };
        let origin = if overrides.is_empty() { origin } else { format!("{origin} with the command-line settings") };
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        Self::from_table(&origin, table)
    }

    /// Checks values serde cannot: ranges and names.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: {key} {what}")));
        if !(0.0..1.0).contains(&self.data.val_fraction) {
            return bad("data.val_fraction", "must be in [0, 1)");
        }
        if !(self.data.train_fraction > 0.0 && self.data.train_fraction <= 1.0) {
            return bad("data.train_fraction", "must be in (0, 1]");
        }
        if self.data.batch_size == 0 {
            return bad("data.batch_size", "must be at least 1");
        }
        if self.optim.lr <= 0.0 || !self.optim.lr.is_finite() {
            return bad("optim.lr", "must be a positive number");
        }
        if !(0.0..1.0).contains(&self.optim.momentum) {
            return bad("optim.momentum", "must be in [0, 1)");
        }
        if !(self.optim.backbone_lr_scale > 0.0 && self.optim.backbone_lr_scale <= 1.0) {
            return bad("optim.backbone_lr_scale", "must be in (0, 1]");
        }
        if !(0.0..1.0).contains(&self.optim.label_smoothing) {
            return bad("optim.label_smoothing", "must be in [0, 1)");
        }
        let non_negative = |v: f64| v >= 0.0 && v.is_finite();
        if !non_negative(self.optim.weight_decay) {
            return bad("optim.weight_decay", "must be a number of at least 0");
        }
        if !self.optim.betas.iter().all(|b| (0.0..1.0).contains(b)) {
            return bad("optim.betas", "must be two numbers in [0, 1)");
        }
        if !(self.optim.eps > 0.0 && self.optim.eps.is_finite()) {
            return bad("optim.eps", "must be a positive number");
        }
        if !non_negative(self.optim.min_lr) {
            return bad("optim.min_lr", "must be a number of at least 0");
        }
        if self.optim.min_lr > self.optim.lr {
            // The cosine schedule would raise the rate from optim.lr up to min_lr.
            return bad("optim.min_lr", "must not exceed optim.lr (the cosine schedule decays from lr to min_lr)");
        }
        if !non_negative(self.optim.warmup_epochs) {
            return bad("optim.warmup_epochs", "must be a number of at least 0");
        }
        if !(self.optim.gamma > 0.0 && self.optim.gamma.is_finite()) {
            return bad("optim.gamma", "must be a positive number");
        }
        if !self.optim.milestones.iter().all(|&m| non_negative(m)) {
            return bad("optim.milestones", "must be epochs of at least 0");
        }
        if self.train.epochs == 0 && self.train.steps.is_none() {
            return bad("train.epochs", "must be at least 1");
        }
        if self.train.steps == Some(0) {
            return bad("train.steps", "must be at least 1");
        }
        if self.train.log_every == 0 {
            return bad("train.log_every", "must be at least 1 (a step record every N steps)");
        }
        crate::models::find(&self.model.name)?;
        crate::data::registry_find(&self.data.dataset)?;
        crate::data::check_size(&self.data.dataset, self.data.image_size.map(|[h, w]| (h, w)), "data.image_size")
            .map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        crate::device::parse(&self.train.device)?;
        crate::methods::settings::validate(&self.method, origin)?;
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// A TOML table as dotted keys (`optim.lr`) and their values written as TOML.
pub fn flat_keys(table: &toml::Table) -> std::collections::BTreeMap<String, String> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeMap<String, String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    walk(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), leaf.to_string());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk("", &toml::Value::Table(table.clone()), &mut out);
    out
}

/// Writes every key of `over` into `base`, section by section (a recipe laid over another).
pub fn merge_tables(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Applies one `section.key=value` override to a TOML table.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set {item}: expected KEY=VALUE, e.g. optim.lr=0.05")))?;
    let value: toml::Value = match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| Error::Config(format!("--set {item}: '{p}' is not a section")))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}
