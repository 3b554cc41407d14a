//! What a report reads from a run directory: its config, training curves and evaluation results.
use crate::config::Config;
use crate::error::{Error, Result};
use crate::eval::corruptions::{Cell, CorruptionReport};
use crate::eval::store::{of_own_weights, setting_id, Index, ResultsStore};
use crate::train::{RunDir, METRICS_FILE};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Robust accuracy of one attack at one budget.
#[derive(Clone, Debug, Serialize)]
pub struct AttackCell {
    pub attack: String,
    pub eps: f64,
    pub eps_text: String,
    pub robust_accuracy: f64,
    pub samples: usize,
    /// A re-ID run's robust retrieval mAP under the feature attack (robust_accuracy is Rank-1).
    pub map: Option<f64>,
}

/// Which evaluation a run's numbers of one kind come from (docs/results.md).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Provenance {
    /// The evaluation's protocol id, or "unrecorded" for results written before protocols were kept.
    pub id: String,
    /// The protocol without the weights: runs with the same setting were evaluated alike.
    pub setting: String,
    /// Images evaluated.
    pub samples: usize,
    /// Other evaluations of this kind kept in the run's results/evals (not used here).
    pub others: usize,
    /// The primary evaluation's id when a kept one under the setting the compared runs share was
    /// read in its place.
    pub instead_of: Option<String>,
}

impl Provenance {
    /// From a summary file's "protocol" block (its image count `fallback` for unrecorded ones).
    fn of(json: &Value, fallback: usize, others: usize, instead_of: Option<String>) -> Provenance {
        let p = &json["protocol"];
        let text = |k: &str| p[k].as_str().unwrap_or("unrecorded").to_string();
        let samples = p["samples"].as_u64().map_or(fallback, |n| n as usize);
        let setting = if p["setting"].is_string() { setting_id(p) } else { text("setting") };
        Provenance { id: text("id"), setting, samples, others, instead_of }
    }
}

/// The setting a comparison asks every run for, per evaluation kind ("clean", "corruptions",
/// "attacks", "reid-attacks"): a run whose primary evaluation of a kind is under another setting is
/// read from a kept evaluation under this one when it has one (docs/results.md).
pub type Wanted = BTreeMap<String, String>;

/// The summary file `file` of `kind` to read: the primary one, or, when that is under another
/// setting than the wanted one, the fullest kept evaluation under the wanted one, with the id of the
/// primary it replaces.
fn pick(results: &Path, index: &Index, kind: &str, file: &str, wanted: &Wanted) -> (PathBuf, Option<String>) {
    let primary = results.join(file);
    let (Some(want), Some(current)) = (wanted.get(kind), index.primary(kind)) else { return (primary, None) };
    if setting_id(&current.protocol) == *want {
        return (primary, None);
    }
    let kept = index
        .evaluations
        .iter()
        .filter(|e| e.kind == kind && of_own_weights(&e.protocol) && setting_id(&e.protocol) == *want)
        .max_by_key(|e| (e.samples, e.written_unix))
        .map(|e| results.join(&e.dir).join(file))
        .filter(|p| p.is_file());
    match kept {
        Some(path) => (path, Some(current.id.clone())),
        None => (primary, None),
    }
}

/// One epoch of the training curves.
#[derive(Clone, Debug, Serialize)]
pub struct EpochPoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: Option<f64>,
}

/// Everything a report needs from one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunResults {
    pub dir: PathBuf,
    pub method: String,
    pub seed: u64,
    pub model: String,
    pub dataset: String,
    pub train_fraction: f64,
    /// Clean top-1 accuracy on the evaluated test images (multi-label task: mAP).
    pub clean: f64,
    /// What `clean`, the corruption accuracies and the curves hold: "accuracy", "mAP" (multi-label)
    /// or "Rank-1" (re-identification, whose curves are the identity classification's).
    pub metric: String,
    /// A re-identification run's retrieval mAP (docs/reid.md §3).
    pub retrieval_map: Option<f64>,
    pub clean_from: Provenance,
    /// results/corruptions.json, when the run was evaluated on corruptions.
    pub corruption: Option<CorruptionReport>,
    pub corruption_from: Option<Provenance>,
    /// Adversarial attacks (attacks.json); for re-identification, the feature attacks on the
    /// queries (reid_attacks.json), valued in Rank-1 and mAP.
    pub attacks: Vec<AttackCell>,
    pub attacks_from: Option<Provenance>,
    /// Clean accuracy on the images the attacks ran on (attacks.json), when attacked.
    pub attack_clean: Option<f64>,
    pub epochs: Vec<EpochPoint>,
    /// results/explain.png, when the evaluation drew one.
    pub explain_png: Option<PathBuf>,
    /// (kind, setting) of every test-set fp32 evaluation the run keeps, primary or not.
    #[serde(skip)]
    pub kept_settings: Vec<(String, String)>,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::format(path, format!("not valid JSON: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn num(v: &Value, key: &str, path: &Path) -> Result<f64> {
    v[key].as_f64().ok_or_else(|| Error::format(path, format!("missing number '{key}'")))
}

fn text(v: &Value, key: &str, path: &Path) -> Result<String> {
    v[key].as_str().map(str::to_string).ok_or_else(|| Error::format(path, format!("missing text '{key}'")))
}

impl RunResults {
    /// Reads a trained run's primary evaluations; its clean results are required, corruptions and
    /// attacks optional.
    pub fn load(dir: &Path) -> Result<RunResults> {
        RunResults::load_for(dir, &Wanted::new())
    }

    /// Reads a trained run, each kind of evaluation under the `wanted` setting where the run keeps one.
    pub fn load_for(dir: &Path, wanted: &Wanted) -> Result<RunResults> {
        // Reports need no device: a GPU run reads the same on a machine without one.
        let cfg: Config = RunDir::open(dir)?.read_config_on(Some("cpu"))?;
        let results = dir.join("results");
        let index = ResultsStore::new(&results).index().unwrap_or_default();
        let others = |kind: &str| index.others(kind).len();
        let (clean_path, instead) = pick(&results, &index, "clean", "clean.json", wanted);
        let clean = read_json(&clean_path)?.ok_or_else(|| {
            Error::Config(format!("{}: no results/clean.json (has the run finished?)", dir.display()))
        })?;
        let clean_samples = clean["samples"].as_u64().unwrap_or(0) as usize;
        if clean_samples == 0 {
            return Err(Error::format(
                &clean_path,
                "records no evaluated images: no accuracy to report (run eval clean again)",
            ));
        }
        let mut r = RunResults {
            dir: dir.to_path_buf(),
            method: cfg.method.name.clone(),
            seed: cfg.train.seed,
            model: cfg.model.name.clone(),
            dataset: cfg.data.dataset.clone(),
            train_fraction: cfg.data.train_fraction,
            clean: match clean["multi_label"]["map"].as_f64() {
                Some(map) => map,
                None => num(&clean, "top1", &clean_path)?,
            },
            metric: match (clean["multi_label"].is_object(), clean["retrieval"].is_object()) {
                (true, _) => "mAP",
                (_, true) => "Rank-1",
                _ => "accuracy",
            }
            .to_string(),
            retrieval_map: clean["retrieval"]["map"].as_f64(),
            clean_from: Provenance::of(&clean, clean_samples, others("clean"), instead),
            corruption: None,
            corruption_from: None,
            attacks: Vec::new(),
            attacks_from: None,
            attack_clean: None,
            epochs: read_epochs(&dir.join(METRICS_FILE)),
            explain_png: Some(results.join("explain.png")).filter(|p| p.is_file()),
            kept_settings: index
                .evaluations
                .iter()
                .filter(|e| {
                    e.protocol["split"].as_str().is_none_or(|s| s == "test") && e.protocol.get("precision").is_none()
                })
                .filter(|e| of_own_weights(&e.protocol))
                .map(|e| (e.kind.clone(), setting_id(&e.protocol)))
                .collect(),
        };
        let (cpath, instead) = pick(&results, &index, "corruptions", "corruptions.json", wanted);
        // Cells of no images hold no accuracy: such a file counts as no corruption evaluation.
        if let Some(c) = read_json(&cpath)?.filter(|c| c["cells"].get(0).is_some_and(|x| x["samples"] != 0)) {
            let fallback = c["cells"][0]["samples"].as_u64().unwrap_or(0) as usize;
            r.corruption_from = Some(Provenance::of(&c, fallback, others("corruptions"), instead));
            r.corruption = Some(
                serde_json::from_value(c)
                    .map_err(|e| Error::format(&cpath, format!("not a corruption report: {e}")))?,
            );
        }
        let (apath, instead) = pick(&results, &index, "attacks", "attacks.json", wanted);
        if let Some(a) = read_json(&apath)? {
            let fallback = a["samples"].as_u64().unwrap_or(0) as usize;
            r.attacks_from = Some(Provenance::of(&a, fallback, others("attacks"), instead));
            r.attack_clean = a["clean_accuracy"].as_f64();
            for x in a["results"].as_array().into_iter().flatten().filter(|x| x["samples"].as_u64() != Some(0)) {
                r.attacks.push(AttackCell {
                    attack: text(x, "attack", &apath)?,
                    eps: num(x, "eps", &apath)?,
                    eps_text: text(x, "eps_text", &apath)?,
                    robust_accuracy: num(x, "robust_accuracy", &apath)?,
                    samples: x["samples"].as_u64().map_or(fallback, |n| n as usize),
                    map: None,
                });
            }
        }
        let (rpath, instead) = pick(&results, &index, "reid-attacks", "reid_attacks.json", wanted);
        if let Some(a) = read_json(&rpath)?.filter(|a| a["results"].get(0).is_some()) {
            let queries = a["queries"].as_u64().unwrap_or(0) as usize;
            r.attacks_from = Some(Provenance::of(&a, queries, others("reid-attacks"), instead));
            r.attack_clean = a["clean"]["rank1"].as_f64();
            for x in a["results"].as_array().into_iter().flatten() {
                r.attacks.push(AttackCell {
                    attack: text(x, "attack", &rpath)?,
                    eps: num(x, "eps", &rpath)?,
                    eps_text: text(x, "eps_text", &rpath)?,
                    robust_accuracy: num(&x["attacked"], "rank1", &rpath)?,
                    samples: queries,
                    map: Some(num(&x["attacked"], "map", &rpath)?),
                });
            }
        }
        Ok(r)
    }

    /// The setting of each kind of evaluation this run's numbers come from.
    pub fn settings(&self) -> Vec<(&'static str, &str)> {
        let attacks = if self.metric == "Rank-1" { "reid-attacks" } else { "attacks" };
        let kinds = [
            ("clean", Some(&self.clean_from)),
            ("corruptions", self.corruption_from.as_ref()),
            (attacks, self.attacks_from.as_ref()),
        ];
        kinds.into_iter().filter_map(|(k, p)| Some((k, p?.setting.as_str()))).collect()
    }

    /// Clean accuracy on the images the corruptions were evaluated on: the reference of relative
    /// mCE and of the severity curves, from the same protocol as the corruption errors.
    pub fn corruption_clean(&self) -> Option<f64> {
        self.corruption.as_ref().map(|c| c.clean_accuracy)
    }

    /// Corruption error E_c = 1 − pooled accuracy of corruption `c`.
    pub fn corruption_error(&self, c: &str) -> Option<f64> {
        self.corruption.as_ref()?.corruption_error(c)
    }

    /// mCE of the CIFAR protocol (docs/methods.md §4.1.4); None without the 15 benchmark corruptions.
    pub fn mce(&self) -> Option<f64> {
        self.corruption.as_ref()?.mce_unnormalized
    }

    /// Mean accuracy over the corruptions of `family`.
    pub fn family_accuracy(&self, family: &str) -> Option<f64> {
        self.corruption.as_ref()?.per_family.iter().find(|f| f.0 == family).map(|f| f.1)
    }

    /// Accuracy per corruption and severity.
    pub fn cells(&self) -> &[Cell] {
        self.corruption.as_ref().map_or(&[], |c| &c.cells)
    }
}

/// The score the runs' tables and charts show: "mAP" when every run is multi-label, "Rank-1" when
/// every run is re-identification, else "accuracy".
pub fn metric_word(runs: &[&RunResults]) -> &'static str {
    let all = |m: &str| !runs.is_empty() && runs.iter().all(|r| r.metric == m);
    if all("mAP") {
        "mAP"
    } else if all("Rank-1") {
        "Rank-1"
    } else {
        "accuracy"
    }
}

/// The per-epoch records of metrics.jsonl (unreadable lines are skipped: the stream is append-only).
fn read_epochs(path: &Path) -> Vec<EpochPoint> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "epoch")
        .filter_map(|v| {
            Some(EpochPoint {
                epoch: v["epoch"].as_u64()? as usize,
                train_loss: v["train_loss"].as_f64()?,
                train_accuracy: v["train_accuracy"].as_f64()?,
                // A multi-label run selects and is plotted by validation mAP.
                val_accuracy: v["val_map"].as_f64().or_else(|| v["val_accuracy"].as_f64()),
            })
        })
        .collect()
}

/// The run directories under `path`: itself when it is a run, else every run below it (a suite).
pub fn find_runs(path: &Path) -> Result<Vec<PathBuf>> {
    if path.join(crate::train::CHECKPOINT_FILE).is_file() || path.join("config.toml").is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(Error::Config(format!("{}: not a run or suite directory", path.display())));
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.join("config.toml").is_file() {
                    out.push(p);
                } else {
                    stack.push(p);
                }
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::Config(format!("{}: holds no run directories (none with a config.toml)", path.display())));
    }
    Ok(out)
}
