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
    let real = |r: &RunResults| std::fs::canonicalize(&r.dir).unwrap_or_else(|_| r.dir.clone());
    let row = |r: &RunResults| (r.method.clone(), r.model.clone(), r.dataset.clone(), r.train_fraction.to_bits());
    for (i, r) in runs.iter().enumerate() {
        if let Some(o) = runs[..i].iter().find(|o| real(o) == real(r)) {
            return Err(Error::Config(format!(
                "{}: given twice (as {}, directly or inside a suite folder); a comparison counts each run once",
                r.dir.display(),
                o.dir.display()
            )));
        }
        let Some(o) = runs[..i].iter().find(|o| row(o) == row(r)) else { continue };
        let both =
            format!("{} and {} are both {} ({}, {})", o.dir.display(), r.dir.display(), r.method, r.model, r.dataset);
        if let Some(o) = runs[..i].iter().find(|o| row(o) == row(r) && o.seed == r.seed) {
            let both = format!("{} and {} are both {} seed {}", o.dir.display(), r.dir.display(), r.method, r.seed);
            return Err(Error::Config(format!(
                "{both} ({}, {}): their values would pass for two seeds; compare them in separate commands",
                r.model, r.dataset
            )));
        }
        if let Some((key, a, b)) = recipe_difference(o, r) {
            return Err(Error::Config(format!(
                "{both} but trained with {key} = {a} and {b}: one row's seeds share a recipe; compare them in separate commands"
            )));
        }
    }
    Ok(())
}

/// The first recipe key (config.toml) two runs give different values, beyond what differs per
/// seed. A key only one of them writes is not compared: a run of another version may lack it.
fn recipe_difference(a: &RunResults, b: &RunResults) -> Option<(String, String, String)> {
    let (a, b) = (recipe(a)?, recipe(b)?);
    a.iter().find_map(|(k, va)| b.get(k).filter(|vb| *vb != va).map(|vb| (k.clone(), va.clone(), vb.clone())))
}

/// A run's config.toml as dotted keys and their values, without the per-seed keys; None when unreadable.
fn recipe(r: &RunResults) -> Option<BTreeMap<String, String>> {
    let table: toml::Table = std::fs::read_to_string(r.dir.join("config.toml")).ok()?.parse().ok()?;
    let mut out = crate::config::flat_keys(&table);
    out.retain(|k, _| !PER_SEED.contains(&k.as_str()));
    Some(out)
}
