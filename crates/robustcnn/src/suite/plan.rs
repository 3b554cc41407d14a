//! A suite recipe: the grid (methods × seeds × models × datasets × training fractions), one shared
//! training recipe and one evaluation protocol, expanded into one config per run.
use crate::config::{apply_override, Config};
use crate::error::{one_line, Error, IoContext, Result};
use crate::eval::protocol::Protocol;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `[suite]` table: the grid's axes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Grid {
    /// Shown as the report's title.
    pub name: String,
    /// Methods as `robustcnn methods` names them, compositions with + (e.g. "fma+ca").
    pub methods: Vec<String>,
    pub seeds: Vec<u64>,
    /// Models; the recipe's [model] name when empty.
    pub models: Vec<String>,
    /// Datasets; the recipe's [data] dataset when empty.
    pub datasets: Vec<String>,
    /// Fractions of the training split to train on (stratified, drawn from the seed).
    pub train_fractions: Vec<f64>,
    /// The method the others are compared with (differences, relative mCE).
    pub baseline: String,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            name: String::new(),
            methods: vec!["baseline".into()],
            seeds: vec![0],
            models: Vec::new(),
            datasets: Vec::new(),
            train_fractions: vec![1.0],
            baseline: "baseline".into(),
        }
    }
}

/// One cell of the grid.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunPlan {
    /// Where the run lives, relative to the suite directory.
    pub name: String,
    pub method: String,
    pub seed: u64,
    pub model: String,
    pub dataset: String,
    pub train_fraction: f64,
    #[serde(skip)]
    pub config: Config,
}

/// A whole suite: the grid, the protocol and the runs' configs.
#[derive(Clone, Debug)]
pub struct Suite {
    pub grid: Grid,
    pub protocol: Protocol,
    pub runs: Vec<RunPlan>,
    /// The recipe as read (after overrides), stored beside the runs.
    pub source: String,
}

/// A fraction as a directory name: "all" for 1, else e.g. "frac-0.1".
fn fraction_label(f: f64) -> String {
    if f >= 1.0 {
        "all".into()
    } else {
        format!("frac-{f}")
    }
}

impl Suite {
    /// Reads a suite recipe from `path` and applies `key=value` overrides (any table, e.g.
    /// suite.seeds=[0,1] or train.epochs=2).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Suite> {
        let text = std::fs::read_to_string(path).at(path)?;
        Suite::from_toml(&path.display().to_string(), &text, overrides)
    }

    /// Parses a suite recipe; `origin` names it in errors.
    pub fn from_toml(origin: &str, text: &str, overrides: &[String]) -> Result<Suite> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::Config(format!("{origin}: {}", one_line(&e.to_string()))))?;
        let written_methods = listed_methods(&table);
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let source = toml::to_string_pretty(&table).unwrap_or_default();
        let take = |t: &mut toml::Table, key: &str| t.remove(key).unwrap_or(toml::Value::Table(toml::Table::new()));
        let grid: Grid = take(&mut table, "suite")
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("{origin}: [suite]: {}", one_line(&e.to_string()))))?;
        let protocol: Protocol = take(&mut table, "evaluate").try_into().map_err(|e: toml::de::Error| {
            Error::Config(format!("{origin}: [evaluate]: {}", one_line(&e.to_string())))
        })?;
        protocol.validate(origin)?;
        let method_settings = match take(&mut table, "method") {
            toml::Value::Table(t) => t,
            _ => return Err(Error::Config(format!("{origin}: [method] must be a table of method settings"))),
        };
        if method_settings.contains_key("name") {
            return Err(Error::Config(format!(
                "{origin}: method.name: a suite names its methods in suite.methods, not [method]"
            )));
        }
        let base = Config::from_table(origin, table.clone())?;
        check_grid(&grid, origin)?;
        check_settings_used(&grid, &written_methods, &method_settings, origin)?;
        let models = if grid.models.is_empty() { vec![base.model.name.clone()] } else { grid.models.clone() };
        let datasets = if grid.datasets.is_empty() { vec![base.data.dataset.clone()] } else { grid.datasets.clone() };
        // Seeds before methods: a suite stopped early still has every method at its first seeds.
        let cells = datasets
            .iter()
            .flat_map(|d| models.iter().map(move |m| (d, m)))
            .flat_map(|(d, m)| grid.train_fractions.iter().map(move |&f| (d, m, f)))
            .flat_map(|(d, m, f)| grid.seeds.iter().map(move |&s| (d, m, f, s)))
            .flat_map(|(d, m, f, s)| grid.methods.iter().map(move |x| (d, m, f, s, x)));
        let mut runs = Vec::new();
        for (dataset, model, fraction, seed, method) in cells {
            let mut run = RunPlan {
                name: format!("{dataset}/{model}/{}/{method}/seed-{seed}", fraction_label(fraction)),
                method: method.clone(),
                seed,
                model: model.clone(),
                dataset: dataset.clone(),
                train_fraction: fraction,
                config: Config::default(),
            };
            run.config = run_config(&table, &method_settings, origin, &run)?;
            protocol.check_task(origin, dataset)?;
            if let Some(side) = known_side(&run.config) {
                protocol.check_image_side(origin, dataset, side)?;
            }
            runs.push(run);
        }
        Ok(Suite { grid, protocol, runs, source })
    }

    /// The run directory of `run` under the suite directory `out`.
    pub fn run_dir(out: &Path, run: &RunPlan) -> PathBuf {
        out.join("runs").join(&run.name)
    }
}

/// The shared recipe `table` with `run`'s dataset, model, fraction, seed and method settings.
fn run_config(table: &toml::Table, method_settings: &toml::Table, origin: &str, run: &RunPlan) -> Result<Config> {
    let mut t = table.clone();
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    for set in [
        format!("data.dataset={}", quoted(&run.dataset)),
        format!("model.name={}", quoted(&run.model)),
        format!("data.train_fraction={:?}", run.train_fraction),
        format!("train.seed={}", run.seed),
    ] {
        apply_override(&mut t, &set)?;
    }
    t.insert("method".into(), toml::Value::Table(method_table(&run.method, method_settings)?));
    Config::from_table(&format!("{origin} (run {})", run.name), t)
}

/// The [method] table of one run: its name and the settings sections its parts use.
fn method_table(method: &str, settings: &toml::Table) -> Result<toml::Table> {
    let parts = crate::methods::parts(method)?;
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(method.to_string()));
    for key in parts.iter().filter_map(|p| p.section.map(|s| s.key)) {
        if let Some(v) = settings.get(key) {
            t.insert(key.to_string(), v.clone());
        }
    }
    Ok(t)
}

/// The method names a recipe table lists in suite.methods (before any override).
fn listed_methods(table: &toml::Table) -> Vec<String> {
    let list = table.get("suite").and_then(|s| s.get("methods")).and_then(|m| m.as_array());
    list.into_iter().flatten().filter_map(|m| m.as_str().map(str::to_string)).collect()
}

/// Every [method.<name>] section must belong to a method of the grid or of the recipe as written
/// (`--set suite.methods=…` may narrow the grid); a typo would be ignored otherwise.
fn check_settings_used(g: &Grid, written: &[String], settings: &toml::Table, origin: &str) -> Result<()> {
    let mut used = Vec::new();
    for m in &g.methods {
        let parts = crate::methods::parts(m).map_err(|e| Error::Config(format!("{origin}: suite.methods: {e}")))?;
        used.extend(parts.iter().filter_map(|p| p.section.map(|s| s.key.to_string())));
    }
    for parts in written.iter().filter_map(|m| crate::methods::parts(m).ok()) {
        used.extend(parts.iter().filter_map(|p| p.section.map(|s| s.key.to_string())));
    }
    match settings.keys().find(|k| !used.contains(k)) {
        Some(k) => Err(Error::Config(format!(
            "{origin}: method.{k}: no method of the suite uses it (suite.methods: {})",
            g.methods.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The side of a run's (square) images where the dataset or `data.image_size` fixes it.
fn known_side(cfg: &Config) -> Option<usize> {
    match cfg.data.image_size {
        Some([h, w]) => Some(h.min(w)),
        None => crate::data::registry_find(&cfg.data.dataset).ok()?.side,
    }
}

fn check_grid(g: &Grid, origin: &str) -> Result<()> {
    let bad = |key: &str, what: &str| Err(Error::Config(format!("{origin}: suite.{key} {what}")));
    if g.methods.is_empty() {
        return bad("methods", "must name at least one method");
    }
    if g.seeds.is_empty() {
        return bad("seeds", "must list at least one seed");
    }
    if g.train_fractions.is_empty() || g.train_fractions.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
        return bad("train_fractions", "must list fractions in (0, 1]");
    }
    for (key, list) in [("methods", &g.methods), ("models", &g.models), ("datasets", &g.datasets)] {
        if let Some(d) = list.iter().enumerate().find(|(i, v)| list[..*i].contains(v)).map(|(_, v)| v) {
            return bad(key, &format!("lists {d} twice"));
        }
    }
    if let Some(d) = g.seeds.iter().enumerate().find(|(i, v)| g.seeds[..*i].contains(v)).map(|(_, v)| v) {
        return bad("seeds", &format!("lists {d} twice"));
    }
    if !g.methods.contains(&g.baseline) {
        return bad("baseline", &format!("'{}' is not one of suite.methods", g.baseline));
    }
    Ok(())
}
