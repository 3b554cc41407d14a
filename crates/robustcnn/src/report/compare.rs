//! The comparison table: one row per method (× model × dataset × training fraction), mean ± std over
//! seeds of clean accuracy, mCE, relative mCE against the baseline, per-family corruption accuracy
//! and robust accuracy per attack and budget, with the differences to the baseline.
use super::results::RunResults;
use super::stats::{mean_std, welch_p};
use crate::eval::reference::{normalize, Errors};
use serde::Serialize;

/// A column of the table; every value is in percent.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub higher_is_better: bool,
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

/// The columns the runs have values for, in table order.
fn columns(runs: &[RunResults], baseline: bool) -> Vec<Column> {
    let col = |key: &str, label: &str, higher: bool| Column {
        key: key.into(),
        label: label.into(),
        higher_is_better: higher,
    };
    let mut cols = vec![col("clean", "clean", true)];
    if runs.iter().any(|r| r.mce().is_some()) {
        cols.push(col("mce", "mCE", false));
        if baseline {
            cols.push(col("relative_mce", "rel. mCE", false));
        }
    }
    for fam in ["noise", "blur", "weather", "digital"] {
        if runs.iter().any(|r| r.family_accuracy(fam).is_some()) {
            cols.push(col(&format!("family:{fam}"), fam, true));
        }
    }
    let mut attacks: Vec<(String, f64, String)> = Vec::new();
    for a in runs.iter().flat_map(|r| &r.attacks) {
        if !attacks.iter().any(|x| x.0 == a.attack && x.2 == a.eps_text) {
            attacks.push((a.attack.clone(), a.eps, a.eps_text.clone()));
        }
    }
    for (attack, _, eps) in attacks {
        cols.push(col(&attack_key(&attack, &eps), &format!("{attack} {eps}"), true));
    }
    cols
}

/// Relative mCE (METHODS.md §4.1.4, with the baseline in AlexNet's place): 100 × mean over the
/// corruptions of (E_c − E_clean) / (E_c^base − E_clean^base), baseline errors averaged over its
/// seeds; corruptions where the baseline loses nothing are left out.
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
    let base = Errors { corruption: &base_error, clean: 1.0 - baseline.iter().map(|b| b.clean).sum::<f64>() / n };
    normalize(&Errors { corruption: &own_error, clean: 1.0 - run.clean }, &base)?.relative_mce
}

/// The value of column `key` for one run, in percent.
fn value(r: &RunResults, key: &str, baseline: &[&RunResults]) -> Option<f64> {
    match key {
        "clean" => Some(100.0 * r.clean),
        "mce" => r.mce(),
        "relative_mce" => relative_mce(r, baseline),
        k if k.starts_with("family:") => r.family_accuracy(&k[7..]).map(|a| 100.0 * a),
        k => r.attacks.iter().find(|a| attack_key(&a.attack, &a.eps_text) == k).map(|a| 100.0 * a.robust_accuracy),
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
    let mut notes = vec![
        "Values in %, mean ± sample standard deviation over seeds; the best mean of each column is marked.".to_string(),
        "mCE: 100 − mean accuracy over the 15 benchmark corruptions, severities pooled (CIFAR protocol, unnormalised)."
            .to_string(),
    ];
    if let Some(b) = &baseline {
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
        notes.push(format!(
            "Differences are to {b} on the same model, data and fraction; p: Welch's two-sided t-test over seeds (needs two or more seeds on both sides)."
        ));
    }
    Comparison { baseline, columns: cols, rows, notes }
}

/// The benchmark corruptions on which the baseline runs lose, on average, under one point of accuracy.
fn small_degradations(base: &[&RunResults]) -> Vec<&'static str> {
    corrupt::BENCHMARK
        .iter()
        .copied()
        .filter(|c| {
            let d: Vec<f64> = base.iter().filter_map(|r| Some(r.corruption_error(c)? - (1.0 - r.clean))).collect();
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
