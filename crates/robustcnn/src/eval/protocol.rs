//! One evaluation protocol for every run of a suite: clean accuracy, the common corruptions
//! (generated on the fly, docs/methods.md §4.1) and adversarial attacks (§4.3), written into the run's
//! results/ with the protocol itself as the marker that the evaluation finished.
use crate::attacks::{self, parse_budget, Attack, AttackRequest, Norm, Setting};
use crate::config::{FmaConfig, LfmConfig, TenetConfig};
use crate::error::{Error, IoContext, Result};
use crate::eval::attack_report::AttackReport;
use crate::eval::attacks::{AttackSet, LARGE_BUDGET_SAMPLES};
use crate::eval::clean::evaluate;
use crate::eval::corruptions::{self, Evaluator, OnTheFly};
use crate::eval::reid_attack_report::{feature_attack_specs, FeatureAttackSpec};
use crate::eval::retrieval_robustness::attacked_retrieval;
use crate::eval::store::{self, ResultsStore};
use crate::precision::Precision;
use crate::train::{self, RunDir};
use corrupt::Preset;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file that records the protocol a run was evaluated under, written last.
pub const PROTOCOL_FILE: &str = "protocol.json";

/// What every run is evaluated on, and how (`[evaluate]` of a suite).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    /// Weights to evaluate: best (validation-selected, else last) or last.
    pub weights: String,
    pub batch_size: usize,
    /// Corruptions and groups (common = the 15 of mCE, validation, all, noise, …); "" for none.
    pub corruptions: String,
    pub severities: Vec<u8>,
    /// Seed of the corruptions' random draws.
    pub corruption_seed: u64,
    /// Parameter preset: auto (by image size), cifar, imagenet or sized.
    pub preset: String,
    /// Frost photographs (frost1.png … frost6.jpg); the reference's cached ones when absent, and
    /// procedural frost without those.
    pub frost_dir: Option<PathBuf>,
    /// Only the first N test images for corruptions and attacks (all when absent).
    pub limit: Option<usize>,
    /// Attacks by registry name (fgsm, pgd, apgd, autoattack, …; `robustcnn eval attack --help`); ℓ∞.
    pub attacks: Vec<String>,
    /// ℓ∞ budgets in pixel units, e.g. "2/255".
    pub eps: Vec<String>,
    pub pgd_steps: usize,
    /// PGD step size as a fraction of ε.
    pub pgd_alpha_fraction: f64,
    pub apgd_iters: usize,
    pub attack_seed: u64,
    /// Run PGD-20 at ε = 0.5 on up to 1,000 images: accuracy must reach about zero.
    pub large_budget_check: bool,
    /// Draw `explain` for runs of feature-level methods (LFM, TENET, FMA) on this test image.
    pub explain_image: Option<usize>,
    /// Re-identification runs: feature-space attacks on the queries, i-fgsm and/or mi-fgsm
    /// (docs/reid.md §5); classifiers take `attacks` instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feature_attacks: Vec<String>,
    /// The feature attacks' ℓ∞ budgets, step and iterations (re-ID's usual 5/255, 1/255, 15).
    pub feature_eps: Vec<String>,
    pub feature_step: String,
    pub feature_iters: usize,
    /// fp32 (the default, as the field reports robust accuracy), or bf16 for speed: kept beside,
    /// never in place of, fp32 results (docs/precision.md).
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            weights: "best".into(),
            batch_size: 256,
            corruptions: "common".into(),
            severities: vec![1, 2, 3, 4, 5],
            corruption_seed: 0,
            preset: "auto".into(),
            frost_dir: None,
            limit: None,
            attacks: vec!["fgsm".into(), "pgd".into()],
            eps: vec!["1/255".into(), "2/255".into(), "4/255".into()],
            pgd_steps: 20,
            pgd_alpha_fraction: 0.25,
            apgd_iters: 100,
            attack_seed: 0,
            large_budget_check: true,
            explain_image: Some(0),
            feature_attacks: Vec::new(),
            feature_eps: vec!["5/255".into()],
            feature_step: "1/255".into(),
            feature_iters: 15,
            precision: Precision::Fp32,
        }
    }
}

impl Protocol {
    /// The frost photographs: `frost_dir`, else the reference's cached ones (procedural without them).
    pub fn frost(&self) -> Option<PathBuf> {
        super::corruptions::frost_folder(self.frost_dir.as_deref(), false)
    }

    /// Checks that the corruption preset takes images of `side`×`side` px (the size-adaptive preset
    /// needs 32 px), so a suite fails before training rather than at its first evaluation.
    pub fn check_image_side(&self, origin: &str, dataset: &str, side: usize) -> Result<()> {
        if self.corruptions.trim().is_empty() {
            return Ok(());
        }
        let corruptor = super::corruptions::corruptor(&self.preset, None, ["evaluate.preset", "evaluate.frost_dir"])?;
        corruptor
            .preset_for(side, side)
            .map(|_| ())
            .map_err(|e| Error::Config(format!("{origin}: evaluate.preset for dataset {dataset}: {e}")))
    }

    /// Checks every field; errors name `origin` and the key.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |key: &str, what: String| Err(Error::Config(format!("{origin}: evaluate.{key} {what}")));
        if !["best", "last"].contains(&self.weights.as_str()) {
            return bad("weights", format!("'{}': expected best or last", self.weights));
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if !self.corruptions.trim().is_empty() {
            if let Err(e) = corrupt::select(&self.corruptions) {
                return bad("corruptions", e.to_string());
            }
            if self.severities.is_empty() || self.severities.iter().any(|s| !(1..=5).contains(s)) {
                return bad("severities", "must list severities in 1–5".into());
            }
            if let Some(s) = self.severities.iter().enumerate().find(|(i, s)| self.severities[..*i].contains(s)) {
                return bad("severities", format!("{} is listed twice", s.1));
            }
        }
        if self.preset != "auto" {
            if let Err(e) = Preset::parse(&self.preset) {
                return bad("preset", e.to_string());
            }
        }
        if self.limit == Some(0) {
            return bad("limit", "must be at least 1 image".into());
        }
        let mut requests = Vec::new();
        for a in &self.attacks {
            let request = AttackRequest::parse(a, &format!("{origin}: evaluate.attacks"))?;
            if !request.entry.norms.contains(&Norm::Linf) {
                return bad("attacks", format!("'{a}': suites evaluate ℓ∞ attacks only"));
            }
            requests.push(request);
        }
        attacks::registry::check_distinct(&requests, &format!("{origin}: evaluate.attacks"))?;
        if !self.attacks.is_empty() && self.eps.is_empty() {
            return bad("eps", "must list at least one budget when attacks are named".into());
        }
        let what = format!("{origin}: evaluate.eps");
        let mut budgets = Vec::new();
        for e in &self.eps {
            let eps = parse_budget(e, &what)?;
            attacks::check_linf_budget(eps, &what, e)?;
            budgets.push((eps, e.trim().to_string()));
        }
        attacks::check_distinct_budgets(&budgets, &what)?;
        // Every attack's parameters are checked now, not after the training they would follow
        // (built for a dataset of many classes; the class count is checked at evaluation).
        if let Some(first) = self.eps.first() {
            let eps = parse_budget(first, "evaluate.eps")?;
            let mut labelled = Vec::new();
            for a in &self.attacks {
                let attack = self.attack(a, eps, 1000).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
                labelled.push((a.trim().to_string(), attack.label()));
            }
            attacks::registry::check_distinct_labels(&labelled, &format!("{origin}: evaluate.attacks"))?;
        }
        self.feature_specs().map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        if self.pgd_steps == 0 || self.apgd_iters == 0 {
            return bad("pgd_steps/apgd_iters", "must be at least 1".into());
        }
        if !(self.pgd_alpha_fraction > 0.0 && self.pgd_alpha_fraction.is_finite()) {
            return bad("pgd_alpha_fraction", "must be a positive number".into());
        }
        Ok(())
    }

    /// Warnings for a PGD schedule that cannot work as meant (evaluate.pgd_alpha_fraction, pgd_steps).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.attacks.iter().any(|a| a == "pgd") {
            for e in &self.eps {
                let eps = parse_budget(e, "evaluate.eps").unwrap_or(0.0);
                if eps > 0.0 {
                    let lines = attacks::step_warnings(eps, e, eps * self.pgd_alpha_fraction, self.pgd_steps);
                    w.extend(lines.into_iter().map(|l| format!("evaluate: {l}")));
                }
            }
        }
        w
    }

    /// The feature attacks of re-ID runs, each at each of its budgets.
    fn feature_specs(&self) -> Result<Vec<(FeatureAttackSpec, String)>> {
        let keys = ["evaluate.feature_attacks", "evaluate.feature_eps", "evaluate.feature_step"];
        let (eps, step, iters) = (&self.feature_eps, &self.feature_step, self.feature_iters);
        feature_attack_specs(&self.feature_attacks, eps, step, iters, 1.0, self.attack_seed, keys)
    }

    /// Checks that the attacks fit the task of `dataset`: classifiers take `attacks`, re-ID runs
    /// `feature_attacks`, so a suite fails before training rather than at its first evaluation.
    pub fn check_task(&self, origin: &str, dataset: &str) -> Result<()> {
        let reid = crate::data::published::is_reid(dataset);
        if reid && !self.attacks.is_empty() {
            return Err(Error::Config(format!(
                "{origin}: evaluate.attacks: {dataset} is re-identification, whose queries are attacked in \
                 feature space: name evaluate.feature_attacks (i-fgsm, mi-fgsm) and set evaluate.attacks = []"
            )));
        }
        if !reid && !self.feature_attacks.is_empty() {
            return Err(Error::Config(format!(
                "{origin}: evaluate.feature_attacks: attack re-identification queries; {dataset} is classified, \
                 so name its attacks in evaluate.attacks"
            )));
        }
        Ok(())
    }

    /// What defines the feature attack evaluation, for its results' protocol.
    fn feature_attack_settings(&self) -> serde_json::Value {
        serde_json::json!({
            "attacks": self.feature_attacks,
            "eps": self.feature_eps,
            "step": self.feature_step,
            "iters": self.feature_iters,
            "momentum": 1.0,
            "seed": self.attack_seed,
        })
    }

    /// What defines the corruption evaluation, for its results' protocol.
    fn corruption_settings(&self) -> serde_json::Value {
        serde_json::json!({
            "source": "on the fly",
            "corruptions": self.corruptions,
            "severities": self.severities,
            "preset": self.preset,
            "frost": super::corruptions::frost_label(self.frost_dir.as_deref(), self.frost().as_deref()),
            "seed": self.corruption_seed,
        })
    }

    /// What defines the attack evaluation, for its results' protocol: the form `eval attack` records,
    /// so that a run evaluated by hand with the same attacks shares the suite's setting.
    fn attack_settings(&self) -> Result<serde_json::Value> {
        let attacks = self
            .attacks
            .iter()
            .map(|name| {
                let request = AttackRequest::parse(name, "evaluate.attacks")?;
                request.describe(Norm::Linf, &self.shared_settings(request.entry.name))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(serde_json::json!({
            "attacks": attacks,
            "norm": "linf",
            "eps": self.eps,
            "seed": self.attack_seed,
            "large_budget_check": self.large_budget_check,
        }))
    }

    /// One attack as `evaluate.attacks` names it (checked by [`Protocol::validate`]) at budget `eps`
    /// (ℓ∞); `pgd_steps`, `pgd_alpha_fraction` and `apgd_iters` set what the name leaves to them.
    fn attack(&self, name: &str, eps: f64, classes: i64) -> Result<Box<dyn Attack>> {
        let request = AttackRequest::parse(name, "evaluate.attacks")?;
        request.build(eps, Norm::Linf, classes, &self.shared_settings(request.entry.name))
    }

    /// The `[evaluate]` keys that set an attack's parameters: PGD's steps and step size, APGD's
    /// iterations.
    fn shared_settings(&self, attack: &str) -> Vec<Setting> {
        let set = |key: &str, value: String, origin: &str| Setting {
            key: key.into(),
            origin: format!("{origin} = {value}"),
            value,
            default: false,
        };
        match attack {
            "pgd" => vec![
                set("steps", self.pgd_steps.to_string(), "evaluate.pgd_steps"),
                set("alpha", format!("eps*{}", self.pgd_alpha_fraction), "evaluate.pgd_alpha_fraction"),
            ],
            _ => vec![set("iters", self.apgd_iters.to_string(), "evaluate.apgd_iters")],
        }
    }
}

/// Whether the run in `dir` holds results of exactly this protocol.
pub fn is_evaluated(dir: &Path, p: &Protocol) -> bool {
    std::fs::read(dir.join("results").join(PROTOCOL_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<Protocol>(&b).ok())
        .is_some_and(|done| &done == p)
}

/// Evaluates the trained run in `dir` under `p`, writing results/ (clean, corruptions, attacks,
/// explain) and then results/protocol.json. `progress` hears what is being done.
pub fn evaluate_run(dir: &Path, p: &Protocol, device: Option<&str>, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let (run, prepared, label) = train::open_trained(dir, &p.weights, device)?;
    let marker = run.dir.join("results").join(PROTOCOL_FILE);
    // In a data-parallel job every rank evaluates its share and rank 0 alone writes.
    let main = crate::dist::is_main();
    if main && marker.exists() {
        std::fs::remove_file(&marker).at(&marker)?;
    }
    let test = limited(&prepared.test, p.limit, &run.dir)?;
    let (net, device) = (&prepared.net, prepared.device);
    p.precision.check_device(device, "evaluate.precision")?;
    net.set_precision(p.precision);
    let store = ResultsStore::of_run(&run.dir);
    let keep = |e: store::Evaluation| if main { store.write(e).map(|_| ()) } else { Ok(()) };
    let (file, weights) = train::weights_file(&run.dir, &p.weights);
    let subject = |kind: &str| {
        store::subject(kind, &weights, &file, "test", test.len(), effective_limit(&prepared.test, p.limit))
            .map(|s| store::with_precision(s, p.precision))
    };
    progress("clean");
    let clean = evaluate(net, &test, p.batch_size, device)?;
    keep(clean.evaluation(&label, subject("clean")?))?;
    if !p.corruptions.trim().is_empty() {
        let report = corruption_results(
            p,
            &label,
            &test,
            Evaluator { net, batch: p.batch_size, device },
            clean.score(),
            progress,
        )?;
        keep(report.evaluation(store::with(subject("corruptions")?, p.corruption_settings())))?;
    }
    if !p.attacks.is_empty() {
        super::retrieval::refuse_for_reid(&test, "evaluate.attacks")?;
        let set = AttackSet { net, data: &test, batch: p.batch_size, device, seed: p.attack_seed };
        let protocol = store::with(subject("attacks")?, p.attack_settings()?);
        let evaluation = if test.is_multi_label() {
            multilabel_attack_results(p, label, &set, progress)?.evaluation(protocol)
        } else {
            attack_results(p, label, &set, progress)?.evaluation(protocol)
        };
        keep(evaluation)?;
    }
    if !p.feature_attacks.is_empty() {
        if test.retrieval.is_none() {
            return Err(Error::Config(format!(
                "evaluate.feature_attacks: attack re-identification queries; {} is a classifier",
                run.dir.display()
            )));
        }
        let specs = p.feature_specs()?;
        let mut tell = |m: &str| progress(&format!("feature attack {m}"));
        let report = attacked_retrieval(net, &test, p.batch_size, device, &specs, &mut tell)?;
        let protocol = store::with(subject("reid-attacks")?, p.feature_attack_settings());
        keep(report.evaluation(protocol))?;
    }
    if !main {
        return Ok(());
    }
    if let Some(i) = p.explain_image {
        explain_picture(&run, &prepared, i)?;
    }
    let text = serde_json::to_string_pretty(p).unwrap_or_default();
    crate::train::checkpoint::write_bytes_atomic(&marker, text.as_bytes())
}

/// The first `limit` images of `test` (re-ID: the first `limit` queries, with the whole gallery;
/// all without a limit); an error when that leaves none.
/// The limit as it acts on `ds`: None when it keeps every image (or every query of a re-ID set), so
/// that `--limit 5000` on 1,000 images is recorded as the whole set it evaluates.
pub fn effective_limit(ds: &crate::data::Dataset, limit: Option<usize>) -> Option<usize> {
    let n = ds.retrieval.as_ref().map_or(ds.len(), |r| r.queries);
    limit.filter(|&l| l < n)
}

pub fn limited(test: &crate::data::Dataset, limit: Option<usize>, run: &Path) -> Result<crate::data::Dataset> {
    if limit == Some(0) {
        return Err(Error::Config(
            "limit 0: nothing to evaluate (give at least 1 image, or no limit for the whole test set)".into(),
        ));
    }
    if test.is_empty() {
        return Err(Error::Config(format!(
            "{}: the test set has no images, so there is nothing to evaluate",
            run.display()
        )));
    }
    Ok(match (limit, &test.retrieval) {
        // A re-ID test set: the first n queries against the whole gallery.
        (Some(n), Some(r)) if n < r.queries => test.select(&(0..n).chain(r.queries..test.len()).collect::<Vec<_>>()),
        (Some(n), None) if n < test.len() => test.select(&(0..n).collect::<Vec<_>>()),
        _ => test.clone(),
    })
}

fn corruption_results(
    p: &Protocol,
    label: &str,
    test: &crate::data::Dataset,
    model: Evaluator,
    clean: f64,
    progress: &mut dyn FnMut(&str),
) -> Result<corruptions::CorruptionReport> {
    let names = corrupt::select(&p.corruptions).map_err(|e| Error::Config(format!("evaluate.corruptions: {e}")))?;
    let corruptor = corruptions::corruptor(&p.preset, p.frost().as_deref(), ["evaluate.preset", "evaluate.frost_dir"])?;
    corruptor.preset_for(test.height, test.width).map_err(|e| Error::Config(format!("evaluate.preset: {e}")))?;
    let plan = OnTheFly {
        corruptor: &corruptor,
        corruptions: &names,
        severities: &p.severities,
        seed: p.corruption_seed,
        workers: 0,
    };
    let mut tell = |done, total| progress(&format!("corruptions {done}/{total}"));
    let cells = if test.retrieval.is_some() {
        super::retrieval_robustness::corrupted_queries(model, test, &plan, &mut tell)?
    } else {
        corruptions::evaluate_on_the_fly(model, test, &plan, &mut tell)?
    };
    let source =
        format!("on the fly: {}", corruptions::describe(&corruptor, p.corruption_seed, (test.height, test.width)));
    let imagenet = (test.height, test.width) == (224, 224) && test.num_classes() == 1000;
    let report = corruptions::summarize(source, label.to_string(), clean, &p.severities, cells, imagenet);
    Ok(match (test.is_multi_label(), test.retrieval.is_some()) {
        (true, _) => report.into_map(),
        (_, true) => report.into_rank1(),
        _ => report,
    })
}

/// Robust mAP of a multi-label model under the protocol's FGSM and PGD (docs/multilabel.md §4).
fn multilabel_attack_results(
    p: &Protocol,
    label: String,
    set: &AttackSet,
    progress: &mut dyn FnMut(&str),
) -> Result<super::multilabel_attacks::MultiLabelAttackReport> {
    if let Some(other) = p.attacks.iter().find(|a| !matches!(a.as_str(), "fgsm" | "pgd")) {
        return Err(Error::Config(format!(
            "evaluate.attacks: {other} has no multi-label form; a multi-label task is attacked by fgsm and pgd \
             with the summed per-class binary cross-entropy"
        )));
    }
    let classes = set.data.num_classes() as i64;
    let clean = set.clean_map()?;
    let mut results = Vec::new();
    for name in &p.attacks {
        for text in &p.eps {
            let attack = p.attack(name, parse_budget(text, "evaluate.eps")?, classes)?;
            progress(&format!("{} ε={text}", attack.label()));
            results.push(set.run_multilabel(attack.as_ref(), text)?);
        }
    }
    let check = if p.large_budget_check {
        progress("large-budget check");
        Some(set.large_budget_map(LARGE_BUDGET_SAMPLES)?)
    } else {
        None
    };
    let n = set.data.len();
    Ok(super::multilabel_attacks::MultiLabelAttackReport::new(label, p.attack_seed, clean, results, check, n))
}

fn attack_results(
    p: &Protocol,
    label: String,
    set: &AttackSet,
    progress: &mut dyn FnMut(&str),
) -> Result<AttackReport> {
    let classes = set.data.num_classes() as i64;
    if p.attacks.iter().any(|a| a.starts_with("apgd")) && classes < 4 {
        return Err(Error::Config(format!(
            "evaluate.attacks: APGD-T needs at least 4 classes; the data has {classes}"
        )));
    }
    let clean = set.clean_predictions()?;
    let mut results = Vec::new();
    for name in &p.attacks {
        for text in &p.eps {
            let eps = parse_budget(text, "evaluate.eps")?;
            let attack = p.attack(name, eps, classes)?;
            progress(&format!("{} ε={text}", attack.label()));
            results.push(set.run(attack.as_ref(), text, &mut |_| {})?);
        }
    }
    let check = if p.large_budget_check {
        progress("large-budget check");
        Some(set.large_budget_check(Norm::Linf, LARGE_BUDGET_SAMPLES, &mut |_| {})?)
    } else {
        None
    };
    Ok(AttackReport::new(label, p.attack_seed, set.data.labels.clone(), clean, results, check))
}

/// results/explain.png and explain.json for runs whose method acts on feature maps.
fn explain_picture(run: &RunDir, prepared: &train::Prepared, index: usize) -> Result<()> {
    let m = &prepared.cfg.method;
    if m.get::<LfmConfig>().is_none() && m.get::<TenetConfig>().is_none() && m.get::<FmaConfig>().is_none() {
        return Ok(());
    }
    let test = &prepared.test;
    if index >= test.len() {
        return Err(Error::Config(format!("evaluate.explain_image {index}: the test set has {} images", test.len())));
    }
    let x = crate::explain::dataset_image(test, index).to_device(prepared.device);
    let label = test.labels[index] as i64;
    let (picture, info) = crate::explain::explain(&prepared.net, m, &x, label, 0)?;
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Config(format!("explain picture: {e}")))?;
    let dir = run.dir.join("results");
    crate::train::checkpoint::write_bytes_atomic(&dir.join("explain.png"), &png)?;
    let json = serde_json::to_string_pretty(&info).unwrap_or_default();
    crate::train::checkpoint::write_bytes_atomic(&dir.join("explain.json"), json.as_bytes())
}
