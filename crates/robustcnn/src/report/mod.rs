//! Reports: the comparison table over runs (Markdown, CSV, JSON) and the self-contained report.html.
pub mod compare;
pub mod html;
pub mod results;
pub mod stats;
pub mod table;

use crate::error::{Error, Result};
use crate::train::checkpoint::write_bytes_atomic;
use std::path::Path;

pub use compare::{compare, Comparison};
pub use results::{find_runs, RunResults};

/// Loads the finished runs among `dirs`; the others are returned by name with the reason.
pub fn load_runs(dirs: &[std::path::PathBuf]) -> (Vec<RunResults>, Vec<String>) {
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for d in dirs {
        match RunResults::load(d) {
            Ok(r) => ok.push(r),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    (ok, skipped)
}

/// Refuses runs a comparison would count twice: one directory given twice (directly or inside a
/// suite given), or two runs of one row with the same seed, whose values would pass for two seeds.
pub fn check_distinct_runs(runs: &[RunResults]) -> Result<()> {
    let real = |r: &RunResults| std::fs::canonicalize(&r.dir).unwrap_or_else(|_| r.dir.clone());
    for (i, r) in runs.iter().enumerate() {
        let row = |o: &RunResults| {
            (&o.method, &o.model, &o.dataset, o.train_fraction.to_bits(), o.seed)
                == (&r.method, &r.model, &r.dataset, r.train_fraction.to_bits(), r.seed)
        };
        if let Some(o) = runs[..i].iter().find(|o| real(o) == real(r)) {
            return Err(Error::Config(format!(
                "{}: given twice (as {}, directly or inside a suite folder); a comparison counts each run once",
                r.dir.display(),
                o.dir.display()
            )));
        }
        if let Some(o) = runs[..i].iter().find(|o| row(o)) {
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
    }
    Ok(())
}

/// Writes comparison.md, comparison.csv, comparison.json and report.html into `dir`.
pub fn write_all(dir: &Path, title: &str, subtitle: &str, cmp: &Comparison, runs: &[RunResults]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_bytes_atomic(&dir.join("comparison.md"), cmp.markdown().as_bytes())?;
    write_bytes_atomic(&dir.join("comparison.csv"), cmp.csv().as_bytes())?;
    let json = serde_json::to_string_pretty(cmp).unwrap_or_default();
    write_bytes_atomic(&dir.join("comparison.json"), json.as_bytes())?;
    write_bytes_atomic(&dir.join("report.html"), html::report(title, subtitle, cmp, runs).as_bytes())
}
