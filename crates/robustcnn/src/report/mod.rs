//! Reports: the comparison table over runs (Markdown, CSV, JSON) and the self-contained report.html.
pub mod compare;
pub mod html;
pub mod results;
mod rows;
pub mod stats;
pub mod table;

use crate::error::{Error, Result};
use crate::train::checkpoint::write_bytes_atomic;
use std::path::Path;

pub use compare::{compare, Comparison};
pub use results::{find_runs, RunResults};
pub use rows::check_rows;

/// Loads the finished runs among `dirs`; the others are returned by name with the reason. Where a
/// run's primary evaluation of a kind is under another setting than the one most runs keep, its
/// kept evaluation under that one is read instead, so that the runs share columns (docs/results.md).
pub fn load_runs(dirs: &[std::path::PathBuf]) -> (Vec<RunResults>, Vec<String>) {
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for d in dirs {
        match RunResults::load(d) {
            Ok(r) => ok.push(r),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    let wanted = most_common_settings(&ok);
    let ok = ok
        .into_iter()
        .map(|r| match r.settings().iter().any(|(k, s)| wanted.get(*k).is_some_and(|w| w != s)) {
            true => RunResults::load_for(&r.dir, &wanted).unwrap_or(r),
            false => r,
        })
        .collect();
    (ok, skipped)
}

/// Per kind of evaluation, the setting the most of `runs` keep an evaluation under; on a tie, the one
/// most of them hold as primary, then the first met.
fn most_common_settings(runs: &[RunResults]) -> results::Wanted {
    let kept =
        |r: &RunResults, kind: &str, setting: &str| r.kept_settings.iter().any(|k| k.0 == kind && k.1 == setting);
    let primary = |r: &RunResults, kind: &str, setting: &str| r.settings().contains(&(kind, setting));
    let mut candidates: Vec<(&str, &str)> = Vec::new();
    for r in runs {
        candidates.extend(r.kept_settings.iter().map(|(k, s)| (k.as_str(), s.as_str())));
        candidates.extend(r.settings());
    }
    let mut best: Vec<(&str, &str, (usize, usize))> = Vec::new();
    for (kind, setting) in candidates {
        let score = (
            runs.iter().filter(|r| kept(r, kind, setting) || primary(r, kind, setting)).count(),
            runs.iter().filter(|r| primary(r, kind, setting)).count(),
        );
        match best.iter_mut().find(|b| b.0 == kind) {
            Some(b) if score > b.2 => *b = (kind, setting, score),
            Some(_) => {}
            None => best.push((kind, setting, score)),
        }
    }
    best.into_iter().map(|(kind, setting, _)| (kind.to_string(), setting.to_string())).collect()
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
