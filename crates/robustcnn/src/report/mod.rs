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

/// Writes comparison.md, comparison.csv, comparison.json and report.html into `dir`.
pub fn write_all(dir: &Path, title: &str, subtitle: &str, cmp: &Comparison, runs: &[RunResults]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_bytes_atomic(&dir.join("comparison.md"), cmp.markdown().as_bytes())?;
    write_bytes_atomic(&dir.join("comparison.csv"), cmp.csv().as_bytes())?;
    let json = serde_json::to_string_pretty(cmp).unwrap_or_default();
    write_bytes_atomic(&dir.join("comparison.json"), json.as_bytes())?;
    write_bytes_atomic(&dir.join("report.html"), html::report(title, subtitle, cmp, runs).as_bytes())
}
