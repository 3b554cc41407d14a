//! Common-corruption evaluation (docs/methods.md §4.1.4): accuracy per corruption × severity, generated on
//! the fly or read from a published -C directory, and the field's summary numbers.
use super::clean::{metrics_for, predict};
use super::multilabel::ApMethod;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Network;
use corrupt::{Corruptor, FrostSource, ImageSet, Preset};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Device;

/// AlexNet's top-1 errors averaged over the 5 severities, in [`corrupt::BENCHMARK`] order
/// (docs/methods.md §4.1.4, from `augmix/imagenet.py`).
pub const ALEXNET_ERRORS: [f64; 15] = [
    0.886428, 0.894468, 0.922640, 0.819880, 0.826268, 0.785948, 0.798360, 0.866816, 0.826572, 0.819324, 0.564592,
    0.853204, 0.646056, 0.717840, 0.606500,
];
/// AlexNet's clean top-1 error on ImageNet (torchvision weights).
pub const ALEXNET_CLEAN_ERROR: f64 = 0.4348;

/// The corruptor of a preset name ("auto": chosen by image size) and an optional directory of frost
/// photographs (procedural frost otherwise); errors name the option that set each (`keys`).
pub fn corruptor(preset: &str, frost_dir: Option<&Path>, keys: [&str; 2]) -> Result<Corruptor> {
    let preset = match preset {
        "auto" => None,
        p => Some(Preset::parse(p).map_err(|e| Error::Config(format!("{}: {e}", keys[0])))?),
    };
    let frost = match frost_dir {
        Some(d) => FrostSource::from_dir(d).map_err(|e| Error::Config(format!("{}: {e}", keys[1])))?,
        None => FrostSource::Procedural,
    };
    Ok(Corruptor { preset, frost })
}

/// Where the reference's frost photographs are when no folder is named: $ROBUSTCNN_FROST_DIR,
/// else `frost/` in the cache that the setup fills (docs/corruptions.md); None when neither holds
/// frost1.png.
pub fn default_frost_dir() -> Option<PathBuf> {
    std::env::var_os("ROBUSTCNN_FROST_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(crate::data::cache_base().join("frost")))
        .filter(|d| d.join("frost1.png").is_file())
}

/// The frost photographs to use: the folder named, else the default one unless `procedural`.
pub fn frost_folder(named: Option<&Path>, procedural: bool) -> Option<PathBuf> {
    match (named, procedural) {
        (Some(d), _) => Some(d.to_path_buf()),
        (None, true) => None,
        (None, false) => default_frost_dir(),
    }
}

/// How frost is made, for protocols: the folder named, "photographs" for the default ones, or
/// "procedural".
pub fn frost_label(named: Option<&Path>, used: Option<&Path>) -> String {
    match (named, used) {
        (Some(d), _) => d.display().to_string(),
        (None, Some(_)) => "photographs".into(),
        (None, None) => "procedural".into(),
    }
}

/// "seed S, preset P, procedural frost" (or "frost photographs"), for results and manifests.
pub fn describe(c: &Corruptor, seed: u64, size: (usize, usize)) -> String {
    let preset = c.preset.unwrap_or_else(|| Preset::for_size(size.0, size.1));
    let frost = if matches!(c.frost, FrostSource::Procedural) { "procedural frost" } else { "frost photographs" };
    format!("seed {seed}, preset {}, {frost}", preset.name())
}

/// Accuracy of one corruption at one severity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cell {
    pub corruption: String,
    pub severity: u8,
    pub samples: usize,
    pub accuracy: f64,
    /// Re-identification with corrupted queries: the retrieval mAP (`accuracy` is then Rank-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<f64>,
}

/// One corruption's summary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PerCorruption {
    pub corruption: String,
    pub family: String,
    /// Accuracy pooled over the evaluated severities.
    pub accuracy: f64,
    /// Images behind `accuracy`: the cells' samples added up.
    #[serde(default)]
    pub samples: usize,
    /// Unnormalised corruption error, 100·(1 − accuracy) (the CIFAR protocol).
    pub error: f64,
    /// CE normalised by AlexNet, 100·Σₛ E / Σₛ E_AlexNet (ImageNet data and all 5 severities only).
    pub ce_alexnet: Option<f64>,
    /// Relative CE: Σₛ (E − E_clean) / Σₛ (E_AlexNet − E_AlexNet,clean), in percent.
    pub relative_ce_alexnet: Option<f64>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CorruptionReport {
    /// How the images were obtained ("on the fly: seed …" or "from DIR").
    pub source: String,
    pub weights: String,
    /// Test images: the clean accuracy's sample count, and each cell's.
    #[serde(default)]
    pub samples: usize,
    pub clean_accuracy: f64,
    pub severities: Vec<u8>,
    pub cells: Vec<Cell>,
    pub per_corruption: Vec<PerCorruption>,
    /// Mean accuracy of each family (noise, blur, weather, digital, extra) over its corruptions.
    pub per_family: Vec<(String, f64)>,
    /// mCE of the CIFAR protocol: 100 − 100·mean accuracy over the 15 benchmark corruptions; None
    /// unless all 15 were evaluated.
    pub mce_unnormalized: Option<f64>,
    /// mCE normalised by AlexNet (ImageNet protocol): ImageNet data, all 15 corruptions, all 5 severities.
    pub mce_alexnet: Option<f64>,
    pub relative_mce_alexnet: Option<f64>,
    /// Mean accuracy over every evaluated corruption and severity.
    pub mean_accuracy: f64,
    /// What the accuracy fields hold: "accuracy", or "mAP" for a multi-label task (whose report has
    /// no mCE, an error-rate protocol).
    #[serde(default = "accuracy_metric")]
    pub metric: String,
    /// The run whose errors normalise mCE and relative mCE (`eval corruptions --reference RUN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<super::reference::Normalized>,
}

fn accuracy_metric() -> String {
    "accuracy".into()
}

impl CorruptionReport {
    /// The same report read as mAP (multi-label task): the accuracy fields hold mAP, and the
    /// error-rate summaries (CE, mCE) are left out (docs/multilabel.md §3).
    pub fn into_map(self) -> Self {
        self.into_metric("mAP")
    }

    /// The same report for a re-identification task: the accuracy fields hold Rank-1 of the
    /// corrupted queries (each cell's `map` their mAP), and there is no CE or mCE (docs/reid.md §5).
    pub fn into_rank1(self) -> Self {
        self.into_metric("Rank-1")
    }

    fn into_metric(mut self, metric: &str) -> Self {
        self.metric = metric.into();
        (self.mce_unnormalized, self.mce_alexnet, self.relative_mce_alexnet) = (None, None, None);
        for p in &mut self.per_corruption {
            (p.ce_alexnet, p.relative_ce_alexnet) = (None, None);
        }
        self
    }
}

/// Summarises cells into per-corruption numbers and the mean corruption errors (docs/methods.md §4.1.4).
/// The AlexNet-normalised numbers are computed only for `imagenet` data, the only data AlexNet's
/// errors describe.
pub fn summarize(
    source: String,
    weights: String,
    clean_accuracy: f64,
    severities: &[u8],
    cells: Vec<Cell>,
    imagenet: bool,
) -> CorruptionReport {
    let mut names: Vec<&str> = Vec::new();
    for c in &cells {
        if !names.contains(&c.corruption.as_str()) {
            names.push(&c.corruption);
        }
    }
    let all_severities = (1..=5).all(|s| severities.contains(&s)) && imagenet;
    let per_corruption: Vec<PerCorruption> = names
        .iter()
        .map(|&name| {
            let mine: Vec<&Cell> = cells.iter().filter(|c| c.corruption == name).collect();
            let samples: usize = mine.iter().map(|c| c.samples).sum();
            let correct: f64 = mine.iter().map(|c| c.accuracy * c.samples as f64).sum();
            let accuracy = correct / samples.max(1) as f64;
            let alexnet = corrupt::BENCHMARK.iter().position(|&b| b == name).map(|i| ALEXNET_ERRORS[i]);
            let mean_error = 1.0 - accuracy;
            let (ce, rel) = match alexnet {
                Some(a) if all_severities => (
                    Some(100.0 * mean_error / a),
                    Some(100.0 * (mean_error - (1.0 - clean_accuracy)) / (a - ALEXNET_CLEAN_ERROR)),
                ),
                _ => (None, None),
            };
            PerCorruption {
                corruption: name.to_string(),
                family: corrupt::family(name).to_string(),
                accuracy,
                samples,
                error: 100.0 * mean_error,
                ce_alexnet: ce,
                relative_ce_alexnet: rel,
            }
        })
        .collect();
    let benchmark: Vec<&PerCorruption> =
        per_corruption.iter().filter(|p| corrupt::BENCHMARK.contains(&p.corruption.as_str())).collect();
    let complete = benchmark.len() == corrupt::BENCHMARK.len();
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mce_unnormalized = complete.then(|| mean(benchmark.iter().map(|p| p.error).collect()));
    let mce_alexnet =
        (complete && all_severities).then(|| mean(benchmark.iter().filter_map(|p| p.ce_alexnet).collect()));
    let relative_mce_alexnet =
        (complete && all_severities).then(|| mean(benchmark.iter().filter_map(|p| p.relative_ce_alexnet).collect()));
    let per_family = ["noise", "blur", "weather", "digital", "extra"]
        .iter()
        .filter_map(|&f| {
            let acc: Vec<f64> = per_corruption.iter().filter(|p| p.family == f).map(|p| p.accuracy).collect();
            (!acc.is_empty()).then(|| (f.to_string(), mean(acc)))
        })
        .collect();
    let mean_accuracy = mean(cells.iter().map(|c| c.accuracy).collect());
    CorruptionReport {
        source,
        weights,
        samples: cells.iter().map(|c| c.samples).min().unwrap_or(0),
        clean_accuracy,
        severities: severities.to_vec(),
        cells,
        per_corruption,
        per_family,
        mce_unnormalized,
        mce_alexnet,
        relative_mce_alexnet,
        mean_accuracy,
        metric: accuracy_metric(),
        reference_run: None,
        reference: None,
    }
}

/// A model in eval mode and how to feed it.
#[derive(Clone, Copy)]
pub struct Evaluator<'a> {
    pub net: &'a Network,
    pub batch: usize,
    pub device: Device,
}

/// Top-1 accuracy on images (u8 HWC, back to back, shaped like `like`) with `labels`; for a
/// multi-label `like`, whose images these are in order, mAP against its targets.
pub fn accuracy_on(model: Evaluator, like: &Dataset, images: Vec<u8>, labels: &[u16]) -> Result<f64> {
    let ds = Dataset { images, labels: labels.to_vec(), targets: like.targets.clone(), ..like.clone_empty() };
    Ok(metrics_for(&ds, &predict(model.net, &ds, model.batch, model.device)?, ApMethod::default()).score())
}

/// What to evaluate on the fly.
pub struct OnTheFly<'a> {
    pub corruptor: &'a Corruptor,
    pub corruptions: &'a [&'static str],
    pub severities: &'a [u8],
    pub seed: u64,
    pub workers: usize,
}

/// Evaluates every corruption × severity of `test`, corrupting the next set on background threads
/// while the model evaluates the current one; nothing is written to disk. `progress(done, total)`.
pub fn evaluate_on_the_fly(
    model: Evaluator,
    test: &Dataset,
    plan: &OnTheFly,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Cell>> {
    let jobs: Vec<(&str, u8)> =
        plan.corruptions.iter().flat_map(|&c| plan.severities.iter().map(move |&s| (c, s))).collect();
    let set = ImageSet { data: &test.images, height: test.height, width: test.width, channels: test.channels };
    let (tx, rx) = std::sync::mpsc::sync_channel::<corrupt::Result<Vec<u8>>>(1);
    std::thread::scope(|scope| {
        // Owned here, the receiver is dropped when this body returns, even early on an error, so a
        // producer blocked on a full channel is released instead of the scope waiting on it forever.
        let rx = rx;
        let jobs = &jobs;
        scope.spawn(move || {
            for &(name, s) in jobs {
                let bytes = corrupt::corrupt_set(plan.corruptor, set, name, s, plan.seed, plan.workers, &|_| {});
                if tx.send(bytes).is_err() {
                    return;
                }
            }
        });
        let mut cells = Vec::with_capacity(jobs.len());
        for (i, &(name, s)) in jobs.iter().enumerate() {
            let bytes = rx
                .recv()
                .map_err(|_| Error::Config("the corruption workers stopped early".into()))?
                .map_err(|e| Error::Config(format!("{name} severity {s}: {e}")))?;
            let accuracy = accuracy_on(model, test, bytes, &test.labels)?;
            cells.push(Cell { corruption: name.to_string(), severity: s, samples: test.len(), accuracy, map: None });
            progress(i + 1, jobs.len());
        }
        Ok(cells)
    })
}

/// The manifest `robustcnn corrupt` writes beside its files (the published sets have none).
#[derive(Deserialize)]
struct Manifest {
    severities: Vec<u8>,
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    split: Option<String>,
}

/// " (made from DATASET's SPLIT split, manifest.json)" where the set's manifest records them, to
/// name the set a label mismatch comes from.
fn made_from(dir: &Path) -> String {
    let read = std::fs::read(dir.join("manifest.json")).ok();
    match read.and_then(|b| serde_json::from_slice::<Manifest>(&b).ok()) {
        Some(Manifest { dataset: Some(d), split: Some(s), .. }) => {
            format!(" (made from {d}'s {s} split, manifest.json)")
        }
        Some(Manifest { dataset: Some(d), .. }) => format!(" (made from {d}, manifest.json)"),
        _ => String::new(),
    }
}

/// Evaluates on a -C directory in the ImageNet-C layout, `<corruption>/<severity>/<class>/<image>`
/// (PNG or JPEG), one corruption × severity in memory at a time. Images are brought to the model's
/// size by resizing the shorter side and cropping the centre (a no-op for the released 224 px
/// images); class folders are matched to the model's classes by name.
pub fn evaluate_from_folders(
    model: Evaluator,
    like: &Dataset,
    dir: &Path,
    corruptions: &[&'static str],
    keep: &[u8],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Cell>> {
    use crate::data::folder::{read_folder, Fit};
    let mut cells = Vec::new();
    let total = corruptions.len() * keep.len();
    for name in corruptions {
        for &s in keep {
            let sub = dir.join(name).join(s.to_string());
            if !sub.is_dir() {
                return Err(Error::format(
                    &sub,
                    "missing (ImageNet-C layout: <corruption>/<severity>/<class>/<image>); pass --corruptions and \
                     --severities to evaluate only what is present",
                ));
            }
            let set = read_folder(&sub, Some((like.height, like.width)), Fit::CenterCrop, like.channels == 1)?;
            let mut map = Vec::with_capacity(set.class_names.len());
            for c in &set.class_names {
                let idx =
                    like.class_names.iter().position(|k| k == c).ok_or_else(|| {
                        Error::format(&sub.join(c), "a class folder the model's dataset does not have")
                    })?;
                map.push(idx as u16);
            }
            let labels: Vec<u16> = set.labels.iter().map(|&l| map[l as usize]).collect();
            if labels.is_empty() {
                return Err(Error::format(&sub, "holds no images, so there is nothing to evaluate"));
            }
            let accuracy = accuracy_on(model, like, set.images, &labels)?;
            cells.push(Cell { corruption: name.to_string(), severity: s, samples: labels.len(), accuracy, map: None });
            progress(cells.len(), total);
        }
    }
    Ok(cells)
}

/// Whether `dir` is in the ImageNet-C folder layout rather than the CIFAR-10-C `.npy` one.
pub fn is_folder_layout(dir: &Path) -> bool {
    !dir.join("labels.npy").exists()
        && corrupt::ALL.iter().any(|c| (1..=5).any(|s| dir.join(c).join(s.to_string()).is_dir()))
}

/// Evaluates on a -C directory in the CIFAR-10-C layout (`<corruption>.npy`, uint8 (k·N, H, W, C),
/// severity blocks in order, and `labels.npy`). The severities are those of its manifest.json when
/// there is one, else 1–5; `keep` selects among them.
pub fn evaluate_from_dir(
    model: Evaluator,
    like: &Dataset,
    dir: &Path,
    corruptions: &[&'static str],
    keep: &[u8],
    limit: Option<usize>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<Cell>, Vec<u8>)> {
    let npy_err = |e: corrupt::Error| Error::Config(e.to_string());
    let (stored, labels, n) = npy_set(dir)?;
    let used: Vec<u8> = keep.iter().copied().filter(|s| stored.contains(s)).collect();
    if used.is_empty() {
        return Err(Error::Config(format!("{}: holds severities {stored:?}, none of {keep:?}", dir.display())));
    }
    let labels_file = dir.join("labels.npy");
    // The first `limit` images of each severity block, as for generated sets.
    let used_n = limit.map_or(n, |l| l.min(n));
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= like.num_classes()) {
        return Err(Error::format(
            &labels_file,
            format!("label {bad} but the model has {} classes", like.num_classes()),
        ));
    }
    let expect = [stored.len() * n, like.height, like.width, like.channels];
    // Every file is checked (its header and size) before any is evaluated.
    for name in corruptions {
        let file = dir.join(format!("{name}.npy"));
        if !file.is_file() {
            return Err(Error::format(&file, "missing; pass --corruptions to evaluate only the files present"));
        }
        let shape = corrupt::npy::read_shape(&file).map_err(npy_err)?;
        if shape != expect {
            return Err(Error::format(
                &file,
                format!("shape {shape:?}, the model and labels.npy expect {expect:?} (N×H×W×C per severity block)"),
            ));
        }
    }
    // The clean accuracy it is compared with is on the same test images: the set must be of them.
    if used_n > like.len() {
        let what = format!("{n} images per severity, the run's test split {}", like.len());
        return Err(Error::format(
            &labels_file,
            format!("{what}: a set of another dataset or split{}", made_from(dir)),
        ));
    }
    if labels[..used_n] != like.labels[..used_n] {
        return Err(Error::format(
            &labels_file,
            format!(
                "its labels are not those of the run's first {used_n} test images: a set of another dataset or \
                 split{}",
                made_from(dir)
            ),
        ));
    }
    let mut cells = Vec::new();
    let total = corruptions.len() * used.len();
    for name in corruptions {
        let arr = corrupt::npy::read(&dir.join(format!("{name}.npy"))).map_err(npy_err)?;
        let len = like.height * like.width * like.channels;
        for &s in &used {
            let b = stored.iter().position(|&x| x == s).unwrap_or(0);
            let images = arr.data[b * n * len..(b * n + used_n) * len].to_vec();
            let accuracy = accuracy_on(model, like, images, &labels[b * n..b * n + used_n])?;
            cells.push(Cell { corruption: name.to_string(), severity: s, samples: used_n, accuracy, map: None });
            progress(cells.len(), total);
        }
    }
    Ok((cells, used))
}

/// Images per severity of a -C set in the CIFAR-10-C layout (`eval corruptions --from`).
pub fn npy_set_images(dir: &Path) -> Result<usize> {
    Ok(npy_set(dir)?.2)
}

/// A CIFAR-10-C-layout set's severities (its manifest.json's, else 1–5), its labels and the images
/// per severity block.
fn npy_set(dir: &Path) -> Result<(Vec<u8>, Vec<u16>, usize)> {
    let npy_err = |e: corrupt::Error| Error::Config(e.to_string());
    let stored: Vec<u8> = match std::fs::read(dir.join("manifest.json")) {
        Ok(bytes) => {
            serde_json::from_slice::<Manifest>(&bytes)
                .map_err(|e| Error::format(&dir.join("manifest.json"), format!("not a robustcnn manifest: {e}")))?
                .severities
        }
        Err(_) => vec![1, 2, 3, 4, 5],
    };
    let labels_file = dir.join("labels.npy");
    let labels = corrupt::npy::read(&labels_file).map_err(npy_err)?;
    let blocks = stored.len();
    if labels.shape.len() != 1 || labels.shape[0] % blocks != 0 {
        return Err(Error::format(&labels_file, format!("shape {:?} is not ({blocks}·N,)", labels.shape)));
    }
    let n = labels.shape[0] / blocks;
    if n == 0 {
        return Err(Error::format(&labels_file, "holds no labels, so there is nothing to evaluate"));
    }
    Ok((stored, labels.data.iter().map(|&l| l as u16).collect(), n))
}

impl CorruptionReport {
    /// corruptions.json, corruptions.csv and corruptions.svg, to keep under `protocol`.
    pub fn evaluation(&self, protocol: serde_json::Value) -> super::store::Evaluation<'static> {
        super::store::Evaluation {
            kind: "corruptions",
            protocol,
            samples: self.cells.iter().map(|c| c.samples).min().unwrap_or(0),
            files: vec![
                ("corruptions.json", serde_json::to_string_pretty(self).unwrap_or_default()),
                ("corruptions.csv", self.cells_csv()),
                ("corruptions.svg", self.plot_svg()),
            ],
        }
    }

    /// One row per corruption × severity: corruption, family, severity, samples, accuracy, error.
    pub fn cells_csv(&self) -> String {
        let mut s = String::from("corruption,family,severity,samples,accuracy,error\n");
        for c in &self.cells {
            s += &format!(
                "{},{},{},{},{:.6},{:.4}\n",
                c.corruption,
                corrupt::family(&c.corruption),
                c.severity,
                c.samples,
                c.accuracy,
                100.0 * (1.0 - c.accuracy)
            );
        }
        s
    }
}

impl CorruptionReport {
    /// Accuracy against severity, one line per corruption coloured by family, the clean accuracy dashed.
    pub fn plot_svg(&self) -> String {
        use super::plot::{family_colour, Chart, Series};
        let mut seen: Vec<&str> = Vec::new();
        let mut series = vec![Series {
            label: format!("clean {:.1}%", 100.0 * self.clean_accuracy),
            colour: "#000".into(),
            dashed: true,
            points: vec![(0.0, 100.0 * self.clean_accuracy), (5.0, 100.0 * self.clean_accuracy)],
        }];
        for p in &self.per_corruption {
            let member = seen.iter().filter(|&&f| f == p.family).count();
            seen.push(&p.family);
            let mut points = vec![(0.0, 100.0 * self.clean_accuracy)];
            points.extend(
                self.cells
                    .iter()
                    .filter(|c| c.corruption == p.corruption)
                    .map(|c| (c.severity as f64, 100.0 * c.accuracy)),
            );
            series.push(Series {
                label: p.corruption.clone(),
                colour: family_colour(&p.family, member),
                dashed: false,
                points,
            });
        }
        let low = self.cells.iter().map(|c| c.accuracy).fold(self.clean_accuracy, f64::min);
        Chart {
            title: "Accuracy under common corruptions",
            x_label: "severity (0 = clean)",
            y_label: "top-1 accuracy (%)",
            x_range: (0.0, 5.0),
            y_range: (((low * 10.0).floor() * 10.0).max(0.0), 100.0),
            x_ticks: (0..=5).map(|s| (s as f64, if s == 0 { "clean".into() } else { s.to_string() })).collect(),
            series,
        }
        .svg()
    }
}

impl CorruptionReport {
    /// Error of corruption `c`, severities pooled, as a fraction.
    pub fn corruption_error(&self, c: &str) -> Option<f64> {
        self.per_corruption.iter().find(|p| p.corruption == c).map(|p| 1.0 - p.accuracy)
    }

    /// Adds mCE and relative mCE normalised by `reference`'s errors (docs/methods.md §4.1.4).
    pub fn normalize_by(&mut self, reference: &CorruptionReport, name: &str) {
        let (own, theirs) = (|c: &str| self.corruption_error(c), |c: &str| reference.corruption_error(c));
        let model = super::reference::Errors { corruption: &own, clean: 1.0 - self.clean_accuracy };
        let base = super::reference::Errors { corruption: &theirs, clean: 1.0 - reference.clean_accuracy };
        self.reference = super::reference::normalize(&model, &base);
        self.reference_run = Some(name.to_string());
    }
}
