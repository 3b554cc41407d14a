//! What makes the runs of one comparison row its seeds: each run once, one run per seed, and one
//! training recipe (docs/usage.md, the comparison). Anything else would pass for seed variance.
use super::RunResults;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Recipe keys that may differ between the seeds of one row: the seed itself, where it ran, the
/// weights a finetuning seed starts from (its own baseline run), and statistics of its training
/// subset (the normalisation, measured on a per-seed stratified fraction).
const PER_SEED: [&str; 9] = [
    "train.seed",
    "train.device",
    "train.init",
    "train.log_every",
    "train.cudnn_benchmark",
    "data.data_dir",
    "data.workers",
    "model.mean",
    "model.std",
];

/// Refuses runs a comparison would count wrongly: one directory given twice (directly or inside a
/// suite given), two runs of one row with the same seed, or two runs of one row trained with
/// different recipes; each would pass for seed variance.
pub fn check_rows(runs: &[RunResults]) -> Result<()> {
    let real: Vec<_> = runs.iter().map(|r| std::fs::canonicalize(&r.dir).unwrap_or_else(|_| r.dir.clone())).collect();
    let recipes: Vec<_> = runs.iter().map(recipe).collect();
    let row = |r: &RunResults| (r.method.clone(), r.model.clone(), r.dataset.clone(), r.train_fraction.to_bits());
    for (i, r) in runs.iter().enumerate() {
        if let Some(o) = (0..i).find(|&o| real[o] == real[i]) {
            return Err(Error::Config(format!(
                "{}: given twice (as {}, directly or inside a suite folder); a comparison counts each run once",
                r.dir.display(),
                runs[o].dir.display()
            )));
        }
        if let Some(o) = runs[..i].iter().find(|o| row(o) == row(r) && o.seed == r.seed) {
            return Err(Error::Config(format!(
                "{} and {} are both {} seed {} ({}, {}): their values would pass for two seeds; compare them in separate commands",
                o.dir.display(),
                r.dir.display(),
                r.method,
                r.seed,
                r.model,
                r.dataset
            )));
        }
        let Some(o) = (0..i).find(|&o| row(&runs[o]) == row(r)) else { continue };
        if let Some((key, a, b)) = recipe_difference(&recipes[o], &recipes[i]) {
            return Err(Error::Config(format!(
                "{} and {} are both {} ({}, {}) but trained with {key} = {a} and {b}: one row's seeds share a recipe; compare them in separate commands",
                runs[o].dir.display(),
                r.dir.display(),
                r.method,
                r.model,
                r.dataset
            )));
        }
    }
    Ok(())
}

/// The first recipe key (config.toml) two runs give different values, beyond what differs per
/// seed. Both recipes are read as this version reads them, so a key one of them leaves out (at its
/// default, or from a version before it) holds the value training used.
fn recipe_difference(
    a: &Option<BTreeMap<String, String>>,
    b: &Option<BTreeMap<String, String>>,
) -> Option<(String, String, String)> {
    let (a, b) = (a.as_ref()?, b.as_ref()?);
    let said = |t: &BTreeMap<String, String>, k: &str| t.get(k).cloned().unwrap_or_else(|| "the default".into());
    a.keys().chain(b.keys()).find(|k| a.get(*k) != b.get(*k)).map(|k| (k.clone(), said(a, k), said(b, k)))
}

/// A run's config.toml as this version reads it, as dotted keys and their values (settings at their
/// default left out), without the per-seed keys; None when unreadable.
fn recipe(r: &RunResults) -> Option<BTreeMap<String, String>> {
    let table: toml::Table = std::fs::read_to_string(r.dir.join(crate::train::CONFIG_FILE)).ok()?.parse().ok()?;
    let read: crate::config::Config = toml::Value::Table(table).try_into().ok()?;
    let mut out = crate::config::flat_keys(&toml::Table::try_from(read).ok()?);
    out.retain(|k, _| !PER_SEED.contains(&k.as_str()));
    Some(out)
}
