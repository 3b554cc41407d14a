//! Training configuration: TOML recipes with unknown keys rejected, overridable from the command line.
use crate::attacks::Budget;
use crate::data::augment::Augment;
use crate::data::folder::Fit;
use crate::error::{Error, IoContext, Result};
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
    /// Training augmentation; the dataset's default when absent.
    pub augment: Option<Augment>,
    /// Image folders only: [height, width] to bring images to, how, and whether to read them as gray.
    pub image_size: Option<[usize; 2]>,
    pub fit: Option<Fit>,
    pub grayscale: bool,
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
    /// Per-step cosine from lr to min_lr (AugMix / TENET, METHODS.md §2.8).
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
    /// Write a step record to metrics.jsonl every this many steps.
    pub log_every: usize,
    /// Start from these weights (a run directory, whose best or last weights are used, or a
    /// .safetensors file) instead of a fresh initialisation: finetuning, as CA and FMA do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { epochs: 5, steps: None, seed: 0, device: "cpu".into(), log_every: 50, init: None }
    }
}

/// The training method: what one training step does (DESIGN.md "Methods and attacks").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MethodConfig {
    /// A name from [`crate::methods::METHODS`]: baseline, pgd-at, fast-at or free-at.
    pub name: String,
    /// Settings of the adversarial-training methods; defaults depend on the method.
    #[serde(skip_serializing_if = "AdversarialConfig::is_unset")]
    pub adversarial: AdversarialConfig,
    /// Settings of LFM (local feature masking, METHODS.md §1); filled with the defaults for `lfm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfm: Option<LfmConfig>,
    /// Settings of TENET (group-wise inhibition, METHODS.md §2); filled with the defaults for `tenet`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenet: Option<TenetConfig>,
    /// Settings of AugMix (METHODS.md §4.2); filled with the defaults for `augmix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augmix: Option<AugMixConfig>,
    /// Settings of Cutout (DeVries & Taylor 2017); filled with the defaults for `cutout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutout: Option<CutoutConfig>,
    /// Settings of Random Erasing (Zhong et al. 2020); filled with the defaults for `random-erasing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_erasing: Option<ErasingConfig>,
    /// Settings of CA, combined augmentations (METHODS.md §3.4); filled with the defaults for `ca`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaConfig>,
    /// Settings of stability training (METHODS.md §3.2); filled with the defaults for `st`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub st: Option<StConfig>,
    /// Settings of the FMA loss (METHODS.md §3.3); filled with the defaults for `fma`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fma: Option<FmaConfig>,
    /// Settings of dropout as a method; filled with the defaults for `dropout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<DropoutConfig>,
}

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig {
            name: "baseline".into(),
            adversarial: AdversarialConfig::default(),
            lfm: None,
            tenet: None,
            augmix: None,
            cutout: None,
            random_erasing: None,
            ca: None,
            st: None,
            fma: None,
            dropout: None,
        }
    }
}

/// Which samples of a batch LFM's gate acts on (METHODS.md §1.5).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LfmGate {
    /// One draw for the whole batch, as the released code does.
    Batch,
    /// One draw per sample, as the paper's summaries describe it.
    Sample,
}

/// What LFM writes into a masked region.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LfmFill {
    /// A constant drawn from U[0,1) per region (the released code).
    Random,
    Zero,
    /// The mean of that channel of that sample's feature map.
    Mean,
}

/// The shape of the masked region (METHODS.md §1.2).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LfmRegion {
    /// The Random-Erasing rectangle the paper describes.
    Rectangle,
    /// The full-width horizontal stripe the released code's chained slices actually write.
    Stripe,
}

/// LFM's settings, defaults from the released code's banner `CRE_P015_RC-32` (METHODS.md §1.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LfmConfig {
    /// The stage whose output is masked (`robustcnn models` lists them); the first, "stem", by default.
    pub stage: String,
    /// Probability that masking happens (per batch or per sample, see gate).
    pub probability: f64,
    pub gate: LfmGate,
    /// Channels drawn (with replacement) per batch; each gets one region per masked sample.
    pub channels: usize,
    /// Mask at most the first N samples of a batch (the released code: 8); all when unset.
    pub max_samples: Option<usize>,
    /// Area of a region as a fraction of the map, [low, high] (Random Erasing's s).
    pub area: [f64; 2],
    /// Aspect ratio h/w of a region, [low, high] (Random Erasing's r).
    pub aspect: [f64; 2],
    pub fill: LfmFill,
    pub region: LfmRegion,
}

impl Default for LfmConfig {
    fn default() -> Self {
        LfmConfig {
            stage: "stem".into(),
            probability: 0.15,
            gate: LfmGate::Batch,
            channels: 32,
            max_samples: None,
            area: [0.02, 0.4],
            aspect: [0.3, 1.0 / 0.3],
            fill: LfmFill::Random,
            region: LfmRegion::Rectangle,
        }
    }
}

/// TENET's settings, defaults from the released CIFAR code (METHODS.md §2.8, §2.12).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TenetConfig {
    /// The stage whose output is grouped and inhibited; unset means the second-to-last convolutional
    /// stage (the code's layer 3 of 4: ResNeXt-29's stage2, ResNet-50's stage3), written out resolved.
    pub stage: Option<String>,
    /// Channel groups per sample (K).
    pub groups: usize,
    /// First global iteration (counted from 1) that may take a TENET step (T_switch).
    pub switch: usize,
    /// A TENET step on every k-th iteration (`thinking_alpha`).
    pub every: usize,
    /// Weight of the cross-entropy of the masked pass (λ_t).
    pub lambda_tenet: f64,
    /// Weight of the orthogonality loss (λ_o; 1e-3 on CIFAR, 0.1 in the code's default config).
    pub lambda_orth: f64,
    /// k-means iterations at most.
    pub kmeans_iters: usize,
    /// k-means stops when the squared centre shift falls below this.
    pub kmeans_tol: f64,
    /// Added to the standard deviation in the z-normalisation of a group's map.
    pub std_eps: f64,
}

impl Default for TenetConfig {
    fn default() -> Self {
        TenetConfig {
            stage: None,
            groups: 6,
            switch: 500,
            every: 3,
            lambda_tenet: 0.1,
            lambda_orth: 1e-3,
            kmeans_iters: 50,
            kmeans_tol: 1e-4,
            std_eps: 1e-8,
        }
    }
}

/// AugMix's settings (METHODS.md §4.2), defaults from the CIFAR code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AugMixConfig {
    /// Upper end of each operation's level U[0.1, severity] (3 on CIFAR, 1 on ImageNet).
    pub severity: f64,
    /// Augmentation chains mixed.
    pub width: usize,
    /// Operations per chain; 0 draws 1–3 per chain.
    pub depth: usize,
    /// Dirichlet and Beta concentration.
    pub alpha: f64,
    /// Add color, contrast, brightness and sharpness to the nine default operations.
    pub all_ops: bool,
    /// Jensen–Shannon consistency over the clean image and two AugMix views. Unset: on for `augmix`
    /// alone (the AugMix paper), off when combined with another method (TENET's recipe).
    pub jsd: Option<bool>,
    /// Weight of the Jensen–Shannon term (λ).
    pub lambda: f64,
    /// Each epoch holds an AugMix copy and a clean copy of the training set (TENET's recipe, §2.7).
    /// Unset: off for `augmix` alone, on when combined with another method.
    pub clean_copy: Option<bool>,
}

impl Default for AugMixConfig {
    fn default() -> Self {
        AugMixConfig {
            severity: 3.0,
            width: 3,
            depth: 0,
            alpha: 1.0,
            all_ops: false,
            jsd: None,
            lambda: 12.0,
            clean_copy: None,
        }
    }
}

/// Cutout (DeVries & Taylor 2017): one square, centred on a uniformly drawn pixel and clipped at the
/// border, filled with the normalisation mean (the reference zeroes it after normalising).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CutoutConfig {
    /// Side of the square in pixels (16 on CIFAR-10).
    pub size: usize,
    /// Probability that an image is cut (1 in the reference; TENET's option has it).
    pub probability: f64,
}

impl Default for CutoutConfig {
    fn default() -> Self {
        CutoutConfig { size: 16, probability: 1.0 }
    }
}

/// What Random Erasing writes into its rectangle.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ErasingFill {
    /// Uniform random values per pixel (the paper).
    Random,
    /// The normalisation mean (the CIFAR code's zero after normalising).
    Mean,
}

/// Random Erasing (Zhong et al. 2020) with the paper's defaults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ErasingConfig {
    pub probability: f64,
    /// Area of the rectangle as a fraction of the image, [low, high].
    pub area: [f64; 2],
    /// Aspect ratio h/w, [low, high].
    pub aspect: [f64; 2],
    pub fill: ErasingFill,
}

impl Default for ErasingConfig {
    fn default() -> Self {
        ErasingConfig { probability: 0.5, area: [0.02, 0.4], aspect: [0.3, 1.0 / 0.3], fill: ErasingFill::Random }
    }
}

/// Whether CA draws its augmentation once per sample or once per batch.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Sample,
    Batch,
}

/// CA, combined augmentations (Kapoor et al. 2020; METHODS.md §3.4, every choice ours and documented):
/// each image gets one corruption drawn from a list at a severity drawn from a range.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// Corruption names (`robustcnn corrupt --list`); default the paper's families: photometric, blur, noise.
    pub augmentations: Vec<String>,
    /// Severity range [low, high], both in 1–5, drawn uniformly.
    pub severities: [u8; 2],
    pub granularity: Granularity,
    /// Probability that an image stays clean.
    pub clean_fraction: f64,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            augmentations: [
                "brightness",
                "contrast",
                "gaussian_blur",
                "defocus_blur",
                "motion_blur",
                "gaussian_noise",
                "shot_noise",
                "impulse_noise",
            ]
            .map(String::from)
            .to_vec(),
            severities: [1, 5],
            granularity: Granularity::Sample,
            clean_fraction: 0.0,
        }
    }
}

/// Stability training (Zheng et al. 2016; METHODS.md §3.2): CE(x) + α·KL(p(x) ‖ p(x′)), x′ the CA view
/// when `ca` is combined, else x + N(0, σ²).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StConfig {
    /// Weight α of the KL term.
    pub alpha: f64,
    /// Standard deviation σ of the Gaussian perturbation (pixel units in [0,1]) when there is no CA view.
    pub sigma: f64,
    /// Stop the gradient through the clean branch of the KL term (default: both branches train).
    pub detach_clean: bool,
}

impl Default for StConfig {
    fn default() -> Self {
        StConfig { alpha: 0.1, sigma: 0.04, detach_clean: false }
    }
}

/// The feature-map distance of FMA.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FmaDistance {
    /// Mean squared difference per element.
    Mse,
    /// Euclidean norm of the difference per sample, averaged.
    L2,
    /// Mean absolute difference per element.
    L1,
    /// 1 − cosine similarity of the flattened maps per sample, averaged.
    Cosine,
}

/// Which images the cross-entropy of FMA sees.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FmaCe {
    Augmented,
    Clean,
    Both,
}

/// The FMA loss (Kapoor et al. 2020; METHODS.md §3.3, a documented template): CE + λ·Σ_l d(F_l(x), F_l(x̃)),
/// x̃ the CA view when `ca` is combined, else x + N(0, σ²).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FmaConfig {
    /// Stages whose output maps are compared; unset means every convolutional stage.
    pub stages: Option<Vec<String>>,
    pub distance: FmaDistance,
    /// Weight λ of the feature-map term.
    pub weight: f64,
    /// Treat the clean maps as fixed targets (stop-gradient).
    pub detach_clean: bool,
    pub ce: FmaCe,
    /// σ of the Gaussian perturbation when there is no CA view.
    pub sigma: f64,
}

impl Default for FmaConfig {
    fn default() -> Self {
        FmaConfig {
            stages: None,
            distance: FmaDistance::Mse,
            weight: 1.0,
            detach_clean: true,
            ce: FmaCe::Augmented,
            sigma: 0.04,
        }
    }
}

/// Dropout as a method: element-wise dropout on a stage's output map during training.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DropoutConfig {
    pub probability: f64,
    /// The stage whose output is dropped; unset means the last convolutional stage (the head's input).
    pub stage: Option<String>,
}

impl Default for DropoutConfig {
    fn default() -> Self {
        DropoutConfig { probability: 0.5, stage: None }
    }
}

/// Whether the training-time attack runs the model in training mode (batch-norm statistics of the
/// attacked batch, as in Madry's and Wong et al.'s code) or in eval mode.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AttackMode {
    Train,
    Eval,
}

/// Adversarial training (METHODS.md §4.3, §2.9); unset values take the method's published defaults
/// and are written out resolved in the run's config.toml.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    /// ℓ∞ budget in pixel units, a number or a fraction string such as "8/255".
    pub eps: Option<Budget>,
    /// Attack step size (pgd-at, fast-at); free-at steps by eps.
    pub alpha: Option<Budget>,
    /// PGD steps (pgd-at).
    pub steps: Option<usize>,
    /// Replays of each mini-batch (free-at's m).
    pub replays: Option<usize>,
    /// Clip the weight-gradient norm to this before each update (TENET's free-AT code uses 20).
    pub grad_clip: Option<f64>,
    /// The model's mode during the attack.
    pub attack_mode: Option<AttackMode>,
}

impl AdversarialConfig {
    /// True when nothing is set (methods other than the adversarial ones).
    pub fn is_unset(&self) -> bool {
        *self == AdversarialConfig::default()
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
        if !(0.0..1.0).contains(&self.optim.label_smoothing) {
            return bad("optim.label_smoothing", "must be in [0, 1)");
        }
        if self.train.epochs == 0 && self.train.steps.is_none() {
            return bad("train.epochs", "must be at least 1");
        }
        if self.train.steps == Some(0) {
            return bad("train.steps", "must be at least 1");
        }
        crate::models::find(&self.model.name)?;
        crate::data::registry_find(&self.data.dataset)?;
        crate::device::parse(&self.train.device)?;
        crate::methods::validate(&self.method, origin)?;
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
