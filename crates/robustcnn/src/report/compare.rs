//! The comparison table: one row per method (× model × dataset × training fraction), mean ± std over
//! seeds of clean accuracy, mCE, relative mCE against the baseline, per-family corruption accuracy
//! and robust accuracy per attack and budget, with the differences to the baseline.
use super::results::{AttackCell, RunResults};
use super::stats::{mean_std, welch_p};
use crate::eval::reference::{normalize, Errors};
use serde::Serialize;

/// A column of the table; every value is in percent, from one evaluation protocol.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub higher_is_better: bool,
    /// The protocol setting every value of the column comes from (docs/results.md).
    pub setting: String,
    /// Images behind each run's value (None when the runs differ).
    pub samples: Option<usize>,
}

/// One cell: the per-seed values and their summary.
#[derive(Clone, Debug, Serialize)]
pub struct Stat {
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (n − 1); None for one seed.
    pub std: Option<f64>,
    /// Best mean of its column.
    pub best: bool,
}

/// Difference of a row's mean to the baseline's, with Welch's p when both have two or more seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    pub delta: f64,
    pub p: Option<f64>,
}

/// A method (and model, dataset, fraction) over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub label: String,
    pub method: String,
    pub model: String,
    pub dataset: String,
    pub train_fraction: f64,
    pub seeds: Vec<u64>,
    pub runs: Vec<String>,
    pub cells: Vec<Option<Stat>>,
    /// Against the baseline row of the same model, dataset and fraction; None for the baseline itself.
    pub diffs: Vec<Option<Diff>>,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub baseline: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

type Key = (String, String, String, u64);

fn key(r: &RunResults) -> Key {
    (r.method.clone(), r.model.clone(), r.dataset.clone(), r.train_fraction.to_bits())
}

fn attack_key(attack: &str, eps_text: &str) -> String {
    format!("attack:{attack}@{eps_text}")
}

/// The column of a re-ID feature attack's robust mAP.
fn attack_map_key(attack: &str, eps_text: &str) -> String {
    format!("attack-map:{attack}@{eps_text}")
}

/// The attack cell of column `key` (an attack's or its mAP's).
fn attack_cell<'a>(r: &'a RunResults, key: &str) -> Option<&'a AttackCell> {
    r.attacks
        .iter()
        .find(|a| attack_key(&a.attack, &a.eps_text) == key || attack_map_key(&a.attack, &a.eps_text) == key)
}

/// The setting of the evaluation a metric key (before its '#') comes from, for one run.
fn setting_of<'a>(r: &'a RunResults, metric: &str) -> Option<&'a str> {
    let from = match metric {
        "clean" | "retrieval_map" => Some(&r.clean_from),
        "mce" | "relative_mce" => r.corruption_from.as_ref(),
        m if m.starts_with("family:") => r.corruption_from.as_ref(),
        _ => r.attacks_from.as_ref(),
    };
    from.map(|p| p.setting.as_str())
}

/// The columns the runs have values for, in table order: one per metric and evaluation setting, so
/// that no column mixes two protocols.
fn columns(runs: &[RunResults], baseline: bool) -> Vec<Column> {
    let all: Vec<&RunResults> = runs.iter().collect();
    // A multi-label comparison's clean and corruption columns hold mAP, and say so.
    let unit = match super::results::metric_word(&all) {
        "accuracy" => String::new(),
        word => format!(" {word}"),
    };
    let mut metrics: Vec<(String, String, bool)> = vec![("clean".into(), format!("clean{unit}"), true)];
    if runs.iter().any(|r| r.retrieval_map.is_some()) {
        metrics.push(("retrieval_map".into(), "mAP".into(), true));
    }
    if runs.iter().any(|r| r.mce().is_some()) {
        metrics.push(("mce".into(), "mCE".into(), false));
        if baseline {
            metrics.push(("relative_mce".into(), "rel. mCE".into(), false));
        }
    }
    for fam in ["noise", "blur", "weather", "digital"] {
        if runs.iter().any(|r| r.family_accuracy(fam).is_some()) {
            metrics.push((format!("family:{fam}"), format!("{fam}{unit}"), true));
        }
    }
    let mut attacks: Vec<(String, String, bool)> = Vec::new();
    for a in runs.iter().flat_map(|r| &r.attacks) {
        match attacks.iter_mut().find(|x| x.0 == a.attack && x.1 == a.eps_text) {
            Some(x) => x.2 |= a.map.is_some(),
            None => attacks.push((a.attack.clone(), a.eps_text.clone(), a.map.is_some())),
        }
    }
    for (attack, eps, map) in attacks {
        metrics.push((attack_key(&attack, &eps), format!("{attack} {eps}{unit}"), true));
        if map {
            metrics.push((attack_map_key(&attack, &eps), format!("{attack} {eps} mAP"), true));
        }
    }
    let mut cols = Vec::new();
    for (metric, label, higher) in metrics {
        let mut settings: Vec<&str> = Vec::new();
        for r in runs
            .iter()
            .filter(|r| raw_value(r, &metric, &[]).is_some() || (metric == "relative_mce" && r.mce().is_some()))
        {
            if let Some(s) = setting_of(r, &metric).filter(|s| !settings.contains(s)) {
                settings.push(s);
            }
        }
        for setting in &settings {
            let key = format!("{metric}#{setting}");
            let mut counts: Vec<usize> = runs.iter().filter_map(|r| samples(r, &key)).collect();
            counts.dedup();
            let label = if settings.len() > 1 { format!("{label} [{setting}]") } else { label.clone() };
            let samples = (counts.len() == 1).then(|| counts[0]);
            cols.push(Column { key, label, higher_is_better: higher, setting: setting.to_string(), samples });
        }
    }
    cols
}

/// Images behind a run's value in column `key`, when it has one.
fn samples(r: &RunResults, key: &str) -> Option<usize> {
    let (metric, setting) = key.split_once('#')?;
    if setting_of(r, metric)? != setting {
        return None;
    }
    match metric {
        "clean" | "retrieval_map" => Some(r.clean_from.samples),
        m if m.starts_with("attack") => attack_cell(r, m).map(|a| a.samples),
        _ => r.corruption_from.as_ref().map(|p| p.samples),
    }
}

/// Relative mCE (docs/methods.md §4.1.4, with the baseline in AlexNet's place): 100 × mean over the
/// corruptions of (E_c − E_clean) / (E_c^base − E_clean^base), baseline errors averaged over its
/// seeds, E_clean measured on the corruption evaluation's own images; corruptions where the
/// baseline loses nothing are left out.
pub fn relative_mce(run: &RunResults, baseline: &[&RunResults]) -> Option<f64> {
    if baseline.is_empty() || run.mce().is_none() {
        return None;
    }
    let n = baseline.len() as f64;
    let base_error = |c: &str| -> Option<f64> {
        let e: Vec<f64> = baseline.iter().filter_map(|b| b.corruption_error(c)).collect();
        (e.len() == baseline.len()).then(|| e.iter().sum::<f64>() / n)
    };
    let own_error = |c: &str| run.corruption_error(c);
    // Clean errors from the corruption evaluations themselves, so that no term mixes two protocols.
    let base_clean: Vec<f64> = baseline.iter().filter_map(|b| b.corruption_clean()).collect();
    if base_clean.len() != baseline.len() {
        return None;
    }
    let base = Errors { corruption: &base_error, clean: 1.0 - base_clean.iter().sum::<f64>() / n };
    normalize(&Errors { corruption: &own_error, clean: 1.0 - run.corruption_clean()? }, &base)?.relative_mce
}

/// The value of column `key` (metric#setting) for one run, in percent; None when the run's
/// evaluation of that kind was under another protocol. The baseline counts only where it was
/// evaluated under the same one.
fn value(r: &RunResults, key: &str, baseline: &[&RunResults]) -> Option<f64> {
    let (metric, setting) = key.split_once('#')?;
    if setting_of(r, metric)? != setting {
        return None;
    }
    let base: Vec<&RunResults> = baseline.iter().copied().filter(|b| setting_of(b, metric) == Some(setting)).collect();
    raw_value(r, metric, &base)
}

/// The value of `metric` for one run, in percent, whatever its protocol.
fn raw_value(r: &RunResults, key: &str, baseline: &[&RunResults]) -> Option<f64> {
    match key {
        "clean" => Some(100.0 * r.clean),
        "retrieval_map" => r.retrieval_map.map(|m| 100.0 * m),
        "mce" => r.mce(),
        "relative_mce" => relative_mce(r, baseline),
        k if k.starts_with("family:") => r.family_accuracy(&k[7..]).map(|a| 100.0 * a),
        k if k.starts_with("attack-map:") => attack_cell(r, k)?.map.map(|m| 100.0 * m),
        k => attack_cell(r, k).map(|a| 100.0 * a.robust_accuracy),
    }
}

/// Builds the table from runs (in the order rows should appear); `baseline` names the method
/// others are compared with.
pub fn compare(runs: &[RunResults], baseline: Option<&str>) -> Comparison {
    let baseline = baseline.filter(|b| runs.iter().any(|r| r.method == *b)).map(str::to_string);
    let cols = columns(runs, baseline.is_some());
    let mut keys: Vec<Key> = Vec::new();
    for r in runs {
        if !keys.contains(&key(r)) {
            keys.push(key(r));
        }
    }
    if let Some(b) = &baseline {
        // The baseline first within its model, dataset and fraction.
        keys.sort_by_key(|k| (k.1.clone(), k.2.clone(), k.3, k.0 != *b));
    }
    let vary = |f: &dyn Fn(&Key) -> String| keys.iter().map(f).collect::<std::collections::BTreeSet<_>>().len() > 1;
    let (vary_model, vary_data, vary_frac) =
        (vary(&|k| k.1.clone()), vary(&|k| k.2.clone()), vary(&|k| k.3.to_string()));
    let base_runs = |k: &Key| -> Vec<&RunResults> {
        runs.iter()
            .filter(|r| {
                Some(&r.method) == baseline.as_ref()
                    && (&r.model, &r.dataset, r.train_fraction.to_bits()) == (&k.1, &k.2, k.3)
            })
            .collect()
    };
    let mut rows: Vec<Row> = keys
        .iter()
        .map(|k| {
            let members: Vec<&RunResults> = runs.iter().filter(|r| key(r) == *k).collect();
            let base = base_runs(k);
            let frac = f64::from_bits(k.3);
            let mut label = k.0.clone();
            if vary_model {
                label += &format!(" · {}", k.1);
            }
            if vary_data {
                label += &format!(" · {}", k.2);
            }
            if vary_frac {
                label += &format!(" · {:.0}% of the data", 100.0 * frac);
            }
            let values = |run_set: &[&RunResults], col: &str| -> Vec<f64> {
                run_set.iter().filter_map(|r| value(r, col, &base)).collect()
            };
            let cells: Vec<Option<Stat>> = cols
                .iter()
                .map(|c| {
                    let v = values(&members, &c.key);
                    (!v.is_empty()).then(|| {
                        let (mean, std) = mean_std(&v);
                        Stat { values: v, mean, std, best: false }
                    })
                })
                .collect();
            let is_base = Some(&k.0) == baseline.as_ref();
            let diffs = cols
                .iter()
                .zip(&cells)
                .map(|(c, cell)| {
                    let (cell, b) = (cell.as_ref()?, values(&base, &c.key));
                    if is_base || b.is_empty() {
                        return None;
                    }
                    Some(Diff { delta: cell.mean - mean_std(&b).0, p: welch_p(&cell.values, &b) })
                })
                .collect();
            let mut seeds: Vec<u64> = members.iter().map(|r| r.seed).collect();
            seeds.sort_unstable();
            Row {
                label,
                method: k.0.clone(),
                model: k.1.clone(),
                dataset: k.2.clone(),
                train_fraction: frac,
                seeds,
                runs: members.iter().map(|r| r.dir.display().to_string()).collect(),
                cells,
                diffs,
            }
        })
        .collect();
    mark_best(&cols, &mut rows);
    let mut notes =
        vec!["Values in %, mean ± sample standard deviation over seeds; the best mean of each column is marked."
            .to_string()];
    let partial = |r: &Row| r.cells.iter().flatten().any(|c| c.values.len() < r.seeds.len());
    if rows.iter().any(partial) {
        notes.push(
            "A value marked (k of n seeds) is the mean of the k seeds evaluated under its column's protocol; \
             the row's other seeds have no evaluation of it."
                .into(),
        );
    }
    // The mCE notes explain columns that only evaluations over the 15 benchmark corruptions have.
    let shown = |metric: &str| cols.iter().any(|c| c.key.split_once('#').is_some_and(|(m, _)| m == metric));
    if shown("mce") {
        notes.push(
            "mCE: 100 − mean accuracy over the 15 benchmark corruptions, severities pooled (CIFAR protocol, unnormalised)."
                .to_string(),
        );
    }
    if let Some(b) = &baseline {
        if shown("relative_mce") {
            notes.push(format!(
                "rel. mCE: mean over corruptions of (E_c − E_clean) / (E_c − E_clean of {b}), in %; 100 = the baseline's degradation."
            ));
            let base: Vec<&RunResults> = runs.iter().filter(|r| &r.method == b).collect();
            let small = small_degradations(&base);
            if !small.is_empty() {
                notes.push(format!(
                    "{b} loses under 1 point on {}: these ratios divide by a small number, so rel. mCE is noisy here.",
                    small.join(", ")
                ));
            }
        }
        notes.push(format!(
            "Differences are to {b} on the same model, data and fraction; p: Welch's two-sided t-test over seeds (needs two or more seeds on both sides)."
        ));
    }
    let multi: Vec<&str> = runs.iter().filter(|r| r.metric == "mAP").map(|r| r.dataset.as_str()).collect::<Vec<_>>();
    if let Some(first) = multi.first() {
        notes.push(format!(
            "{first} is multi-label: its clean, corruption and attack values are mAP (VOC all-points AP, classes without positives left out), and it has no mCE."
        ));
    }
    if let Some(r) = runs.iter().find(|r| r.metric == "Rank-1") {
        notes.push(format!(
            "{} is person re-identification: its clean value is Rank-1 and mAP its retrieval mAP (docs/reid.md).",
            r.dataset
        ));
    }
    notes.extend(provenance_notes(runs, &cols));
    Comparison { baseline, columns: cols, rows, notes }
}

/// Which protocols the columns come from, and the other evaluations each run keeps but the table
/// does not use.
fn provenance_notes(runs: &[RunResults], cols: &[Column]) -> Vec<String> {
    let mut notes = vec![
        "images: the test images behind each column's values (per run); every value comes from one evaluation protocol, listed in each run's results/index.json.".to_string(),
    ];
    let mut settings: Vec<String> = Vec::new();
    for c in cols {
        let kind = match c.key.split('#').next().unwrap_or_default() {
            "clean" | "retrieval_map" => "clean",
            k if k.starts_with("attack") => "attacks",
            _ => "corruptions",
        };
        let images = c.samples.map_or("images vary".to_string(), |n| format!("{n} images"));
        let text = format!("{kind} {} ({images})", c.setting);
        if !settings.contains(&text) {
            settings.push(text);
        }
    }
    if !settings.is_empty() {
        notes.push(format!("Evaluation settings (protocols without the weights): {}.", settings.join("; ")));
    }
    if cols.iter().any(|c| c.label.ends_with(']')) {
        notes.push(
            "Some runs were evaluated under different protocols: each protocol has its own columns, marked [setting], and values are never mixed across them."
                .into(),
        );
    }
    fn from<'a>(r: &'a RunResults, kind: &str) -> Option<&'a super::results::Provenance> {
        match kind {
            "clean" => Some(&r.clean_from),
            "corruptions" => r.corruption_from.as_ref(),
            _ => r.attacks_from.as_ref(),
        }
    }
    for kind in ["clean", "corruptions", "attacks"] {
        // Every run read from the most complete of as many evaluations: one note, not one per run.
        let most_complete = |r: &RunResults| {
            from(r, kind).filter(|p| p.others > 0 && p.instead_of.is_none()).map(|p| (p.others, p.samples))
        };
        let shared = runs.first().and_then(most_complete).filter(|f| runs.iter().all(|r| most_complete(r) == Some(*f)));
        if let Some((others, samples)) = shared.filter(|_| runs.len() > 1) {
            notes.push(format!(
                "Every run: {kind} from the most complete of its {} evaluations ({samples} images; each run's protocol in its results/index.json); the others are in results/evals.",
                others + 1
            ));
            continue;
        }
        for r in runs {
            if let Some((p, primary)) = from(r, kind).and_then(|p| Some((p, p.instead_of.as_ref()?))) {
                notes.push(format!(
                    "{}: {kind} from its evaluation under the setting the other runs share (protocol {}, {} images), not its primary one (protocol {primary}); both are in results/evals.",
                    r.dir.display(),
                    p.id,
                    p.samples
                ));
            } else if let Some(p) = from(r, kind).filter(|p| p.others > 0) {
                notes.push(format!(
                    "{}: {kind} from the most complete of its {} evaluations (protocol {}, {} images); the others are in results/evals.",
                    r.dir.display(),
                    p.others + 1,
                    p.id,
                    p.samples
                ));
            }
        }
    }
    notes
}

/// The benchmark corruptions on which the baseline runs lose, on average, under one point of accuracy.
fn small_degradations(base: &[&RunResults]) -> Vec<&'static str> {
    corrupt::BENCHMARK
        .iter()
        .copied()
        .filter(|c| {
            let d: Vec<f64> =
                base.iter().filter_map(|r| Some(r.corruption_error(c)? - (1.0 - r.corruption_clean()?))).collect();
            !d.is_empty() && d.iter().sum::<f64>() / (d.len() as f64) < 0.01
        })
        .collect()
}

/// Marks the best mean of each column, among rows of the same model, dataset and fraction.
fn mark_best(cols: &[Column], rows: &mut [Row]) {
    let groups: Vec<(String, String, u64)> =
        rows.iter().map(|r| (r.model.clone(), r.dataset.clone(), r.train_fraction.to_bits())).collect();
    for (j, c) in cols.iter().enumerate() {
        for g in &groups {
            let best = rows
                .iter()
                .zip(&groups)
                .filter(|(_, gg)| *gg == g)
                .filter_map(|(r, _)| r.cells[j].as_ref().map(|s| s.mean))
                .fold(None, |acc: Option<f64>, m| {
                    Some(acc.map_or(m, |a| if c.higher_is_better { a.max(m) } else { a.min(m) }))
                });
            for (r, gg) in rows.iter_mut().zip(&groups) {
                if gg == g {
                    if let (Some(s), Some(b)) = (r.cells[j].as_mut(), best) {
                        s.best = s.mean == b;
                    }
                }
            }
        }
    }
}
