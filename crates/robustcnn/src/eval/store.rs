//! Evaluation results kept per protocol (docs/results.md): every evaluation is written whole to
//! results/evals/<kind>-<id>/ and listed in results/index.json; the top-level files of each kind
//! (clean.json, corruptions.json, attacks.json, …) hold its most complete evaluation, so a quick look
//! on a few images never replaces a full one.
use crate::error::{Error, IoContext, Result};
use crate::precision::Precision;
use crate::train::checkpoint::write_bytes_atomic;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The index of every evaluation kept in a results folder.
pub const INDEX_FILE: &str = "index.json";
/// The folder, under results/, that holds one sub-folder per evaluation.
pub const EVALS_DIR: &str = "evals";
/// The `weights` labels [`of_own_weights`] accepts.
const OWN_WEIGHTS: [&str; 3] = ["best", "last", "torchscript"];
/// Whether an evaluation is of the run's own weights (or a TorchScript module's, in its own
/// results folder), not of a weights file from elsewhere evaluated in the run's folder.
pub fn of_own_weights(protocol: &Value) -> bool {
    protocol["weights"].as_str().is_none_or(|w| OWN_WEIGHTS.contains(&w))
}

/// The protocol key that names the weights themselves; the rest, which weights of a run (`best`,
/// `last` or a file) included, is the setting shared by runs evaluated alike.
const WEIGHT_KEY: &str = "weights_md5";

/// One evaluation as the index lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// clean, corruptions or attacks.
    pub kind: String,
    /// Hash of the whole protocol, weights included.
    pub id: String,
    /// Hash of the protocol without the weights: runs evaluated the same way share it.
    pub setting: String,
    /// Images evaluated.
    pub samples: usize,
    /// This evaluation's folder, relative to the results folder.
    pub dir: String,
    /// When it was written, in seconds since the Unix epoch.
    pub written_unix: u64,
    pub protocol: Value,
}

/// results/index.json: every evaluation, and which one of each kind the top-level files hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Index {
    pub evaluations: Vec<Entry>,
    /// Kind → id of the evaluation in the top-level files.
    pub primary: BTreeMap<String, String>,
}

impl Index {
    /// The evaluation the top-level files of `kind` hold.
    pub fn primary(&self, kind: &str) -> Option<&Entry> {
        let id = self.primary.get(kind)?;
        self.evaluations.iter().find(|e| e.kind == kind && &e.id == id)
    }

    /// The other evaluations of `kind` kept beside the primary one.
    pub fn others(&self, kind: &str) -> Vec<&Entry> {
        let primary = self.primary.get(kind);
        self.evaluations.iter().filter(|e| e.kind == kind && Some(&e.id) != primary).collect()
    }
}

/// One finished evaluation to keep: its protocol, its image count and its files, the first of which
/// is the JSON summary that receives the protocol block.
pub struct Evaluation<'a> {
    pub kind: &'a str,
    pub protocol: Value,
    pub samples: usize,
    pub files: Vec<(&'a str, String)>,
}

/// Where an evaluation went.
#[derive(Debug)]
pub struct Stored {
    pub entry: Entry,
    /// The evaluation the top-level files hold now (the new one, or a more complete one kept).
    pub primary: Entry,
    /// The evaluation the new one moved out of the top-level files, still kept in its folder.
    pub displaced: Option<Entry>,
}

impl Stored {
    /// A sentence on where the results are, and what was kept or moved.
    pub fn describe(&self, results: &Path) -> String {
        let here = results.join(&self.entry.dir);
        if self.entry.protocol["split"].as_str().is_some_and(|s| s != "test") {
            return format!(
                "results: {} (the {} split, kept beside the test-set results)",
                here.display(),
                self.entry.protocol["split"].as_str().unwrap_or_default()
            );
        }
        if let Some(precision) = self.entry.protocol["precision"].as_str() {
            return format!(
                "results: {} (in {precision}, kept beside the fp32 results, never in place of them)",
                here.display()
            );
        }
        if !of_own_weights(&self.entry.protocol) {
            let file = self.entry.protocol["weights"].as_str().unwrap_or_default();
            return format!(
                "results: {} (weights {file}: kept beside the run's own results, never in place of them)",
                here.display()
            );
        }
        if self.primary.id != self.entry.id {
            return format!(
                "results: {} (this evaluation, {} images); {} keeps the more complete one ({} images, protocol {})",
                here.display(),
                self.entry.samples,
                results.display(),
                self.primary.samples,
                self.primary.id
            );
        }
        let moved = self.displaced.as_ref().map_or(String::new(), |d| {
            format!(
                "; the earlier evaluation ({} images, protocol {}) stays in {}",
                d.samples,
                d.id,
                results.join(&d.dir).display()
            )
        });
        format!("results: {} (protocol {}, also in {}){moved}", results.display(), self.entry.id, here.display())
    }
}

/// A results folder (a run's results/, or one given with --results).
pub struct ResultsStore {
    pub dir: PathBuf,
}

/// Short hex MD5 of a JSON value's canonical text.
fn hash(v: &Value) -> String {
    let digest = Md5::digest(serde_json::to_string(v).unwrap_or_default().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The protocol without the weights' MD5 (`best` and `last` stay apart: which of a run's weights is
/// evaluated is part of how), and with a corruption evaluation's
/// `--reference` run blanked: the reference adds normalised numbers, never changes the accuracies, so
/// a baseline and the runs normalised by it share their columns in a comparison; nor does whether
/// an attack evaluation ran the large-budget check (a diagnostic beside the attacks, which it
/// leaves untouched), so a suite's evaluation and the same one by hand share theirs.
pub fn setting_of(protocol: &Value) -> Value {
    let mut s = protocol.clone();
    if let Some(map) = s.as_object_mut() {
        map.remove(WEIGHT_KEY);
        map.remove("large_budget_check");
        if let Some(reference) = map.get_mut("reference") {
            *reference = Value::Null;
        }
    }
    s
}

/// The protocol in the one form each evaluation has, whichever way its options were spelt
/// (docs/results.md): a corruption list (a group such as "common", or names in any order) as its
/// names in benchmark order, severities ascending, a corruption evaluation without a
/// `--reference` as one whose `reference` is null, and an attack evaluation's attacks as `eval
/// attack` records them.
pub fn canonical(protocol: &Value) -> Value {
    let mut p = protocol.clone();
    let Some(map) = p.as_object_mut() else { return p };
    let names = match map.get("corruptions") {
        Some(Value::String(spec)) => corrupt::select(spec).ok(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|n| n.as_str().and_then(|n| corrupt::select(n).ok()))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.concat()),
        _ => None,
    };
    if let Some(mut names) = names {
        names.sort_by_key(|n| corrupt::ALL.iter().position(|a| a == n));
        names.dedup();
        map.insert("corruptions".into(), Value::from(names));
    }
    if let Some(Value::Array(severities)) = map.get_mut("severities") {
        severities.sort_by_key(|s| s.as_u64());
    }
    if map.get("kind").and_then(Value::as_str) == Some("corruptions") {
        map.entry("reference").or_insert(Value::Null);
        // Images read from a set made already: earlier versions recorded the command's drawing
        // options, which did not apply to them.
        if map.get("source").and_then(Value::as_str).is_some_and(|s| s != "on the fly") {
            for k in ["preset", "frost", "seed"] {
                map.remove(k);
            }
        }
    }
    if map.get("kind").and_then(Value::as_str) == Some("attacks") {
        canonical_attacks(map);
    }
    p
}

/// The keys suites recorded for their attacks before they wrote them as `eval attack` does.
const SUITE_ATTACK_KEYS: [&str; 6] =
    ["pgd_steps", "pgd_alpha", "pgd_restarts", "pgd_loss", "pgd_random_start", "apgd_iters"];

/// An attack protocol's attacks as `eval attack` records them, step sizes in one form: an earlier
/// suite's list of names with its `pgd_*` and `apgd_iters` keys is rewritten to that form.
fn canonical_attacks(map: &mut serde_json::Map<String, Value>) {
    use crate::attacks::entry::{canonical_step, Setting};
    use crate::attacks::registry::AttackRequest;
    let Some(Value::Array(list)) = map.get("attacks") else { return };
    let key = |k: &str| map.get(k).map(|v| v.as_str().map_or(v.to_string(), str::to_string));
    let set = |k: &str, v: Option<String>| {
        v.map(|value| Setting { key: k.into(), value, origin: String::new(), default: false })
    };
    // "0.25·ε" was a suite's PGD step size relative to ε.
    let alpha = key("pgd_alpha").map(|a| format!("eps*{}", a.trim_end_matches("·ε")));
    let shared: Vec<Setting> = [set("steps", key("pgd_steps")), set("alpha", alpha), set("iters", key("apgd_iters"))]
        .into_iter()
        .flatten()
        .collect();
    let described: Option<Vec<Value>> = list
        .iter()
        .map(|a| match a {
            Value::String(name) => {
                AttackRequest::parse(name, "").and_then(|r| r.describe(crate::attacks::Norm::Linf, &shared)).ok()
            }
            Value::Object(m) => {
                let mut m = m.clone();
                if let Some(Value::String(step)) = m.get("alpha") {
                    let step = canonical_step(step);
                    m.insert("alpha".into(), step.into());
                }
                Some(Value::Object(m))
            }
            _ => None,
        })
        .collect();
    if let Some(described) = described {
        map.insert("attacks".into(), Value::from(described));
        for k in SUITE_ATTACK_KEYS {
            map.remove(k);
        }
    }
}

/// The setting (a hash) of a protocol as kept in an index or a summary's `protocol` block; the
/// block's own `id`, `setting` and `samples` are left out, and the setting is computed afresh from
/// the canonical protocol, so evaluations kept by earlier versions compare with new ones.
pub fn setting_id(protocol: &Value) -> String {
    let mut p = protocol.clone();
    if let Some(map) = p.as_object_mut() {
        for k in ["id", "setting", "samples"] {
            map.remove(k);
        }
    }
    hash(&setting_of(&canonical(&p)))
}

/// The MD5 of a weights file, in hex: two evaluations of different weights never share a protocol.
pub fn file_md5(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).at(path)?;
    Ok(Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The image count a legacy summary file records (before protocols were kept).
fn legacy_samples(json: &Value) -> usize {
    json["samples"].as_u64().or_else(|| json["cells"].get(0).and_then(|c| c["samples"].as_u64())).unwrap_or(0) as usize
}

impl ResultsStore {
    pub fn new(dir: impl Into<PathBuf>) -> ResultsStore {
        ResultsStore { dir: dir.into() }
    }

    /// The run directory's own results folder.
    pub fn of_run(run: &Path) -> ResultsStore {
        ResultsStore::new(run.join("results"))
    }

    /// The index; an empty one when the folder has none yet.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join(INDEX_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::format(&path, format!("not a results index: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Files in the top-level folder written before protocols were kept: copied into their own
    /// evaluation folder as "unrecorded", so that nothing is lost when a new evaluation arrives.
    fn adopt_legacy(&self, index: &mut Index, kind: &str, names: &[&str]) -> Result<()> {
        let Some(main) = names.first().map(|n| self.dir.join(n)) else { return Ok(()) };
        if index.primary.contains_key(kind) || !main.is_file() {
            return Ok(());
        }
        let json: Value = std::fs::read(&main).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let protocol = serde_json::json!({"kind": kind, "recorded": false});
        let id = format!("legacy-{}", hash(&json));
        let dir = format!("{EVALS_DIR}/{kind}-{id}");
        std::fs::create_dir_all(self.dir.join(&dir)).at(&self.dir.join(&dir))?;
        for name in names {
            let from = self.dir.join(name);
            if from.is_file() {
                let bytes = std::fs::read(&from).at(&from)?;
                write_bytes_atomic(&self.dir.join(&dir).join(name), &bytes)?;
            }
        }
        let entry = Entry {
            kind: kind.into(),
            setting: hash(&setting_of(&protocol)),
            id: id.clone(),
            samples: legacy_samples(&json),
            dir,
            written_unix: now_unix(),
            protocol,
        };
        index.evaluations.push(entry);
        index.primary.insert(kind.into(), id);
        Ok(())
    }

    /// Keeps an evaluation: its own folder always, the top-level files when it is on the test set
    /// and at least as complete (as many images or more) as the one they hold, then the index.
    /// Every file is written atomically; an evaluation of no images is refused.
    pub fn write(&self, eval: Evaluation) -> Result<Stored> {
        if eval.samples == 0 {
            return Err(Error::Config(format!("{} evaluation of 0 images: nothing to report", eval.kind)));
        }
        std::fs::create_dir_all(&self.dir).at(&self.dir)?;
        let mut index = self.index()?;
        let names: Vec<&str> = eval.files.iter().map(|f| f.0).collect();
        self.adopt_legacy(&mut index, eval.kind, &names)?;
        let eval = Evaluation { protocol: canonical(&eval.protocol), ..eval };
        let id = hash(&eval.protocol);
        let entry = Entry {
            kind: eval.kind.into(),
            id: id.clone(),
            setting: hash(&setting_of(&eval.protocol)),
            samples: eval.samples,
            dir: format!("{EVALS_DIR}/{}-{id}", eval.kind),
            written_unix: now_unix(),
            protocol: eval.protocol.clone(),
        };
        let mut block = eval.protocol.clone();
        if let Some(m) = block.as_object_mut() {
            m.insert("id".into(), Value::String(id.clone()));
            m.insert("setting".into(), Value::String(entry.setting.clone()));
            m.insert("samples".into(), Value::from(eval.samples));
        }
        let mut files = eval.files;
        if let Some(first) = files.first_mut() {
            let mut json: Value = serde_json::from_str(&first.1).unwrap_or_default();
            if let Some(m) = json.as_object_mut() {
                m.insert("protocol".into(), block);
                first.1 = serde_json::to_string_pretty(&json).unwrap_or_default();
            }
        }
        let own = self.dir.join(&entry.dir);
        std::fs::create_dir_all(&own).at(&own)?;
        for (name, text) in &files {
            write_bytes_atomic(&own.join(name), text.as_bytes())?;
        }
        // The same evaluation kept by an earlier version under a protocol spelt another way.
        let same = |e: &Entry| e.kind == eval.kind && (e.id == id || canonical(&e.protocol) == eval.protocol);
        let superseded: Vec<String> =
            index.evaluations.iter().filter(|e| same(e) && e.id != id).map(|e| e.dir.clone()).collect();
        let current = index.primary(eval.kind).cloned();
        // The top-level files report the test set in fp32: a validation-split or reduced-precision
        // evaluation is only kept.
        let on_test = eval.protocol["split"].as_str().is_none_or(|s| s == "test");
        let fp32 = eval.protocol.get("precision").is_none();
        // compare and report show a run by its own weights, never by a file evaluated in its folder.
        let own = of_own_weights(&eval.protocol);
        let promote = on_test && fp32 && own && current.as_ref().is_none_or(|c| same(c) || eval.samples >= c.samples);
        if promote {
            for (name, text) in &files {
                write_bytes_atomic(&self.dir.join(name), text.as_bytes())?;
            }
            index.primary.insert(eval.kind.into(), id.clone());
        }
        index.evaluations.retain(|e| !same(e));
        index.evaluations.push(entry.clone());
        let text = serde_json::to_string_pretty(&index).unwrap_or_default();
        write_bytes_atomic(&self.dir.join(INDEX_FILE), text.as_bytes())?;
        for dir in superseded {
            let _ = std::fs::remove_dir_all(self.dir.join(dir));
        }
        let displaced = current.clone().filter(|c| promote && !same(c));
        let primary = if promote { entry.clone() } else { current.unwrap_or_else(|| entry.clone()) };
        Ok(Stored { entry, primary, displaced })
    }
}

/// The part of every protocol that names what was evaluated: which weights (and their MD5), which
/// split, how many images and under which `--limit`; `kind` and its own settings are added to it.
pub fn subject(
    kind: &str,
    weights: &str,
    weights_file: &Path,
    split: &str,
    images: usize,
    limit: Option<usize>,
) -> Result<Value> {
    Ok(serde_json::json!({
        "kind": kind,
        "weights": weights,
        "weights_md5": file_md5(weights_file)?,
        "split": split,
        "images": images,
        "limit": limit,
    }))
}

/// `protocol` with the precision the evaluation ran in when it is not fp32. fp32 protocols carry
/// no key, so their ids stay those of evaluations from before mixed precision (docs/precision.md).
pub fn with_precision(protocol: Value, precision: Precision) -> Value {
    match precision {
        Precision::Fp32 => protocol,
        p => with(protocol, serde_json::json!({ "precision": p.name() })),
    }
}

/// `base` with the keys of `more` added (both JSON objects).
pub fn with(mut base: Value, more: Value) -> Value {
    if let (Some(b), Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_leaves_out_the_weights_and_the_reference_run() {
        let with_ref = serde_json::json!({"kind": "corruptions", "weights": "best", "weights_md5": "ab", "reference": "runs/base"});
        let without =
            serde_json::json!({"kind": "corruptions", "weights": "best", "weights_md5": "cd", "reference": null});
        assert_eq!(hash(&setting_of(&with_ref)), hash(&setting_of(&without)));
        assert_ne!(hash(&with_ref), hash(&without), "the protocol itself still names them");
        let last =
            serde_json::json!({"kind": "corruptions", "weights": "last", "weights_md5": "cd", "reference": null});
        assert_ne!(hash(&setting_of(&last)), hash(&setting_of(&without)), "best and last weights are two settings");
        let other = serde_json::json!({"kind": "corruptions", "reference": null, "seed": 1});
        assert_ne!(hash(&setting_of(&other)), hash(&setting_of(&without)));
    }

    #[test]
    fn one_corruption_evaluation_has_one_protocol_however_its_options_were_spelt() {
        let suite = serde_json::json!({"kind": "corruptions", "corruptions": "common", "severities": [1, 2, 3, 4, 5]});
        let mut names: Vec<&str> = corrupt::BENCHMARK.to_vec();
        names.reverse();
        let by_hand = serde_json::json!({"kind": "corruptions", "corruptions": names, "severities": [5, 4, 3, 2, 1], "reference": null});
        assert_eq!(canonical(&suite), canonical(&by_hand));
        assert_eq!(canonical(&suite)["corruptions"], serde_json::json!(corrupt::BENCHMARK));
        assert_eq!(setting_id(&suite), setting_id(&by_hand));
        let fewer = serde_json::json!({"kind": "corruptions", "corruptions": "noise", "severities": [1, 2, 3, 4, 5]});
        assert_ne!(setting_id(&fewer), setting_id(&suite));
        let noise = serde_json::json!({"kind": "corruptions", "corruptions": ["impulse_noise", "gaussian_noise", "shot_noise"], "severities": [1, 2, 3, 4, 5]});
        assert_eq!(setting_id(&fewer), setting_id(&noise));
        // Budgets keep their order (the results' columns follow it).
        let attacks = serde_json::json!({"kind": "attacks", "eps": ["8/255", "2/255"], "weights": "best"});
        assert_eq!(canonical(&attacks), attacks);
        let block = with(suite.clone(), serde_json::json!({"id": "x", "setting": "y", "samples": 5}));
        assert_eq!(setting_id(&block), setting_id(&suite), "a summary's block reads as its protocol");
    }

    #[test]
    fn one_attack_evaluation_has_one_protocol_whoever_wrote_it() {
        let by_hand = serde_json::json!({"kind": "attacks", "norm": "linf", "eps": ["2/255"], "seed": 0, "large_budget_check": false, "attacks": [
            {"name": "fgsm"},
            {"name": "pgd", "steps": "10", "alpha": "eps/4", "restarts": "1", "loss": "ce", "target": "none", "random_start": "true"},
        ]});
        let written_as = serde_json::json!({"kind": "attacks", "norm": "linf", "eps": ["2/255"], "seed": 0, "large_budget_check": false, "attacks": [
            {"name": "fgsm"},
            {"name": "pgd", "steps": "10", "alpha": "eps*0.25", "restarts": "1", "loss": "ce", "target": "none", "random_start": "true"},
        ]});
        let earlier_suite = serde_json::json!({"kind": "attacks", "norm": "linf", "eps": ["2/255"], "seed": 0, "large_budget_check": false,
            "attacks": ["fgsm", "pgd"], "pgd_steps": 10, "pgd_alpha": "0.25·ε", "pgd_restarts": 1, "pgd_loss": "ce",
            "pgd_random_start": true, "apgd_iters": 100});
        assert_eq!(canonical(&by_hand), canonical(&written_as));
        assert_eq!(canonical(&by_hand), canonical(&earlier_suite));
        assert_eq!(canonical(&by_hand)["attacks"][1]["alpha"], "eps*0.25");
        let twenty = serde_json::json!({"kind": "attacks", "norm": "linf", "eps": ["2/255"], "seed": 0, "large_budget_check": false,
            "attacks": ["fgsm", "pgd"], "pgd_steps": 20, "pgd_alpha": "0.25·ε", "apgd_iters": 100});
        assert_ne!(setting_id(&twenty), setting_id(&by_hand));
        let checked = serde_json::json!({"kind": "attacks", "eps": ["8/255"], "large_budget_check": true});
        let unchecked = serde_json::json!({"kind": "attacks", "eps": ["8/255"], "large_budget_check": false});
        assert_eq!(setting_id(&checked), setting_id(&unchecked), "the check changes no robust accuracy");
        assert_ne!(canonical(&checked), canonical(&unchecked), "both evaluations are kept");
        let from_set = serde_json::json!({"kind": "corruptions", "source": "/data/c", "seed": 5, "preset": "imagenet", "frost": "photographs", "reference": null});
        assert_eq!(
            canonical(&from_set),
            serde_json::json!({"kind": "corruptions", "source": "/data/c", "reference": null})
        );
        let on_the_fly =
            serde_json::json!({"kind": "corruptions", "source": "on the fly", "seed": 5, "reference": null});
        assert_eq!(canonical(&on_the_fly), on_the_fly);
        // A re-ID feature attack's names are not image attacks: left as they are.
        let reid = serde_json::json!({"kind": "reid-attacks", "attacks": ["i-fgsm"], "eps": ["2/255"]});
        assert_eq!(canonical(&reid), reid);
    }
}
