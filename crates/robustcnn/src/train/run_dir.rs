//! A run directory: resolved config, metrics stream, checkpoints, weights and results.
use super::checkpoint;
use super::optim::Optimizer;
use super::LoopState;
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::methods::Method;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Tensor};

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// An open run directory.
pub struct RunDir {
    pub dir: PathBuf,
}

/// Appends JSON lines to metrics.jsonl, counting them (or only counts them, on a rank other than 0).
pub struct MetricsWriter {
    file: Option<std::fs::File>,
    path: PathBuf,
    pub lines: usize,
}

impl MetricsWriter {
    /// A writer that counts lines without writing them: a data-parallel rank other than 0.
    pub fn discard(lines: usize) -> MetricsWriter {
        MetricsWriter { file: None, path: PathBuf::new(), lines }
    }

    pub fn write(&mut self, value: serde_json::Value) -> Result<()> {
        if let Some(file) = &mut self.file {
            let _writing = checkpoint::hold_writes();
            writeln!(file, "{value}").and_then(|_| file.flush()).at(&self.path)?;
        }
        self.lines += 1;
        Ok(())
    }
}

impl RunDir {
    /// Creates a new run directory, checking it is writable before any work starts.
    pub fn create(dir: &Path) -> Result<RunDir> {
        if dir.join(CONFIG_FILE).exists() || dir.join(CHECKPOINT_FILE).exists() {
            return Err(Error::Config(format!(
                "{}: already holds a run; pass --resume to continue it, or choose another --out",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Config(format!("{}: cannot create the run directory: {e}", dir.display())))?;
        super::checkpoint::check_writable(dir)
            .map_err(|e| Error::Config(format!("{}: the run directory is not writable: {e}", dir.display())))?;
        Ok(RunDir { dir: dir.to_path_buf() })
    }

    /// Opens an existing run for `--resume`: one with a checkpoint, or one stopped before its first
    /// checkpoint (its config written), which then starts over from step 0.
    pub fn open_for_resume(dir: &Path) -> Result<RunDir> {
        if !dir.join(CHECKPOINT_FILE).is_file() && !dir.join(CONFIG_FILE).is_file() {
            return Err(Error::Config(format!("{}: no {CHECKPOINT_FILE} to resume from", dir.display())));
        }
        Ok(RunDir { dir: dir.to_path_buf() })
    }

    /// Opens a finished or running run for evaluation.
    pub fn open(dir: &Path) -> Result<RunDir> {
        if !dir.join(CONFIG_FILE).is_file() {
            return Err(Error::Config(format!("{}: not a run directory (no {CONFIG_FILE})", dir.display())));
        }
        Ok(RunDir { dir: dir.to_path_buf() })
    }

    /// Whether training finished: the metrics stream ends with the "end" record, written after the
    /// final weights and the clean test results.
    pub fn is_finished(dir: &Path) -> bool {
        let text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap_or_default();
        text.lines()
            .next_back()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .is_some_and(|v| v["event"] == "end")
    }

    pub fn read_config(&self) -> Result<Config> {
        self.read_config_on(None)
    }

    /// The run's config with its device replaced by `device` before it is checked, so that a run
    /// trained on a GPU can be evaluated or reported on a machine without one.
    pub fn read_config_on(&self, device: Option<&str>) -> Result<Config> {
        let path = self.dir.join(CONFIG_FILE);
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path).at(&path)?;
        let mut table: toml::Table = text.parse().map_err(|e| Error::format(&path, format!("not valid TOML: {e}")))?;
        if let Some(d) = device {
            crate::config::apply_override(&mut table, &format!("train.device={}", toml::Value::String(d.into())))?;
        }
        Config::from_table(&origin, table)
    }

    pub fn write_config(&self, cfg: &Config) -> Result<()> {
        checkpoint::write_bytes_atomic(&self.dir.join(CONFIG_FILE), cfg.to_toml().as_bytes())
    }

    pub fn metrics_writer(&self, st: &mut LoopState) -> Result<MetricsWriter> {
        let path = self.dir.join(super::METRICS_FILE);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
        Ok(MetricsWriter { file: Some(file), path, lines: st.metrics_lines })
    }

    /// Drops metric lines written after the checkpoint being resumed.
    pub fn truncate_metrics(&self, lines: usize) -> Result<()> {
        let path = self.dir.join(METRICS_FILE);
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        let kept: String = text.lines().take(lines).map(|l| format!("{l}\n")).collect();
        checkpoint::write_bytes_atomic(&path, kept.as_bytes())
    }

    pub fn save_weights(&self, name: &str, vs: &VarStore) -> Result<()> {
        checkpoint::write_atomic(&self.dir.join(name), &checkpoint::model_tensors(vs))
    }

    pub fn load_weights(&self, name: &str, vs: &VarStore) -> Result<()> {
        let path = self.dir.join(name);
        checkpoint::load_into(vs, &path, &checkpoint::read(&path)?)
    }

    /// Weights, optimizer state, the method's carried tensors and the loop state, in one atomic file.
    pub fn save_checkpoint(
        &self,
        vs: &VarStore,
        opt: &Optimizer,
        method_state: &[(String, Tensor)],
        st: &LoopState,
    ) -> Result<()> {
        checkpoint::write_atomic(
            &self.dir.join(CHECKPOINT_FILE),
            &checkpoint::checkpoint_tensors(vs, opt, method_state, st),
        )
    }

    pub fn load_checkpoint(&self, vs: &VarStore, opt: &mut Optimizer, method: &mut dyn Method) -> Result<LoopState> {
        let path = self.dir.join(CHECKPOINT_FILE);
        let tensors = checkpoint::read(&path)?;
        checkpoint::load_into(vs, &path, &tensors)?;
        method.load_state(&tensors);
        checkpoint::restore_loop(&path, &tensors, opt)
    }
}
