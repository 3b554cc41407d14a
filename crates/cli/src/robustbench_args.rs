//! `--format robustbench` on `eval attack` and `eval corruptions`: the evaluation also written as a
//! RobustBench leaderboard entry, under RESULTS/robustbench/<dataset>/<threat model>/<name>.json
//! (docs/imported.md).
use crate::commands::Opened;
use anyhow::{bail, Context, Result};
use robustcnn::eval::robustbench::{self, TO_FILL};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RobustBenchArgs {
    /// Also write the results as a RobustBench leaderboard entry: --format robustbench.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The entry's name with --format robustbench [default: the run directory's or file's name].
    #[arg(long, requires = "format")]
    pub name: Option<String>,
}

impl RobustBenchArgs {
    /// Whether a RobustBench entry is asked for; any other format is refused before work starts.
    pub fn wanted(&self) -> Result<bool> {
        match self.format.as_deref() {
            None => Ok(false),
            Some("robustbench") => Ok(true),
            Some(f) => {
                bail!("--format {f}: the only format is robustbench (the results' own files are always written)")
            }
        }
    }

    /// Refuses, before any work, a dataset RobustBench keeps no leaderboard for.
    pub fn check_dataset(&self, o: &Opened) -> Result<()> {
        if self.wanted()? {
            robustbench::check_dataset(&o.prepared.cfg.data.dataset)?;
        }
        Ok(())
    }

    /// The entry's name.
    pub fn entry_name(&self, o: &Opened) -> String {
        self.name.clone().unwrap_or_else(|| {
            o.source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
        })
    }

    /// Writes `files` (name, text) into RESULTS/robustbench/<dataset>/<threat>/ and says where.
    pub fn write(&self, o: &Opened, threat: &str, files: &[(String, String)]) -> Result<()> {
        let dir: PathBuf = o.store.dir.join("robustbench").join(&o.prepared.cfg.data.dataset).join(threat);
        std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
            println!("RobustBench: {}", path.display());
        }
        println!("  to fill in before submitting: {}", TO_FILL.join(", "));
        Ok(())
    }
}
