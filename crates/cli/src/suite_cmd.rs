//! `robustcnn suite`, `compare`, `report` and `demo`: the grid of methods × seeds trained and
//! evaluated under one protocol, the comparison table and report.html.
use crate::interrupt::interrupt_flag;
use crate::shorthand::Shorthand;
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use robustcnn::report::{self, compare, find_runs, load_runs};
use robustcnn::suite::{self, ExecOptions, Observer, Outcome, RunPlan, RunState, Suite};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
pub struct SuiteArgs {
    /// Suite recipe: [suite] (the grid), [evaluate] (the protocol) and the shared training recipe
    /// ([data], [model], [optim], [train], [method.<name>] settings).
    pub config: PathBuf,
    /// Suite directory [default: runs/suite-<recipe name>].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Override any key, e.g. --set train.epochs=2 or --set suite.seeds=[0,1,2] (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Train every method on this stratified fraction of the training split (the same subset for
    /// every method of a seed); shorthand for --set suite.train_fractions=[F].
    #[arg(long, value_name = "F")]
    pub train_fraction: Option<f64>,
    /// Only these methods of the grid, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Only these seeds, comma-separated (shorthand for --set suite.seeds=[…]).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// cpu, cuda or cuda:N for every run (default: the recipe's).
    #[arg(long)]
    pub device: Option<String>,
    /// Print the runs and where each stands, then stop.
    #[arg(long)]
    pub list: bool,
    /// Show the training loop's per-epoch progress.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Run directories or suite directories (every run below them).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The method the others are compared with [default: baseline, when present].
    #[arg(long)]
    pub baseline: Option<String>,
    /// Also write comparison.md, .csv, .json and report.html into this directory.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ReportArgs {
    /// A run directory or a suite directory.
    pub dir: PathBuf,
    /// The method the others are compared with [default: the suite's, else baseline].
    #[arg(long)]
    pub baseline: Option<String>,
}

/// The suite recipe with the command line's overrides.
fn load_suite(a: &SuiteArgs) -> Result<Suite> {
    let mut flags = Vec::new();
    if let Some(f) = a.train_fraction {
        flags.push(Shorthand::new("--train-fraction", f, "suite.train_fractions", format!("[{f:?}]")));
    }
    if !a.seeds.is_empty() {
        let s: Vec<String> = a.seeds.iter().map(|s| s.to_string()).collect();
        flags.push(Shorthand::new("--seeds", s.join(","), "suite.seeds", format!("[{}]", s.join(","))));
    }
    let mut suite = Suite::load(&a.config, &crate::shorthand::merged(flags, &a.set)?)?;
    keep_methods(&mut suite, &a.methods)?;
    Ok(suite)
}

/// Keeps only the runs of `methods` (all when empty); each must be one of the suite's.
pub fn keep_methods(suite: &mut Suite, methods: &[String]) -> Result<()> {
    if methods.is_empty() {
        return Ok(());
    }
    for m in methods {
        if !suite.grid.methods.contains(m) {
            bail!("--methods {m}: not in the suite (its methods: {})", suite.grid.methods.join(", "));
        }
    }
    suite.runs.retain(|r| methods.contains(&r.method));
    Ok(())
}

pub fn run_suite_cmd(a: &SuiteArgs) -> Result<()> {
    let suite = load_suite(a)?;
    let stem = a.config.file_stem().and_then(|s| s.to_str()).unwrap_or("suite");
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/suite-{stem}")));
    if a.list {
        for r in &suite.runs {
            let state = suite::run_state(&out, &suite, r);
            let held = match suite::claims::holder(&out, &r.name) {
                Some(h) if h.is_stale() => format!("  (stale claim of {}: the next worker takes it over)", h.worker),
                Some(h) => format!("  (held by {}, seen {:.0} s ago)", h.worker, h.idle.as_secs_f64()),
                None => String::new(),
            };
            println!("{:<11} {}{held}", state_word(state), Suite::run_dir(&out, r).display());
        }
        return Ok(());
    }
    run_suite(&suite, &out, a.device.clone(), a.verbose)
}

fn state_word(s: RunState) -> &'static str {
    match s {
        RunState::Done => "done",
        RunState::Evaluate => "evaluate",
        RunState::Resume => "resume",
        RunState::Fresh => "to train",
    }
}

/// Prints the suite's progress: one line per run with the suite's ETA, a spinner for its phase.
struct Screen {
    bar: Option<ProgressBar>,
    verbose: bool,
}

fn duration(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Observer for Screen {
    fn took_over(&mut self, _run: &RunPlan, worker: &str) {
        let line = format!("    taking over from {worker}, whose claim went stale");
        match &self.bar {
            Some(b) => b.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn waiting(&mut self, held: &[(&RunPlan, suite::Holder)]) {
        let list: Vec<String> = held.iter().map(|(r, h)| format!("{} ({})", r.name, h.worker)).collect();
        println!(
            "waiting for {} run(s) held by other workers: {}; a claim unrefreshed for {:.0} s is taken over",
            held.len(),
            list.join(", "),
            suite::claims::stale_after().as_secs_f64()
        );
    }

    fn run_started(&mut self, index: usize, total: usize, run: &RunPlan, state: RunState, eta_s: Option<f64>) {
        let eta = eta_s.map_or("after the first run".to_string(), duration);
        println!(
            "[{}/{total}] {} seed {} · {} · {} · {:.0}% of the data — {} (suite ETA {eta})",
            index + 1,
            run.method,
            run.seed,
            run.model,
            run.dataset,
            100.0 * run.train_fraction,
            state_word(state)
        );
        if state != RunState::Done {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("    {spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            self.bar = Some(bar);
        }
    }

    fn phase(&mut self, message: &str) {
        if let Some(b) = &self.bar {
            if self.verbose && message.starts_with("training") {
                // The training loop draws its own bars.
                b.finish_and_clear();
                self.bar = None;
            } else {
                b.set_message(message.to_string());
            }
        }
    }

    fn run_ended(&mut self, _index: usize, _run: &RunPlan, outcome: &Outcome) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        match outcome {
            Outcome::Skipped => {}
            Outcome::Completed { seconds } => println!("    done in {}", duration(*seconds)),
            Outcome::Failed { error } => println!("    FAILED: {error}"),
        }
    }
}

/// Runs `suite` into `out`, then writes the comparison and report.html; fails if any run failed.
pub fn run_suite(suite: &Suite, out: &Path, device: Option<String>, verbose: bool) -> Result<()> {
    let dist = robustcnn::dist::job();
    let opts = ExecOptions { out: out.to_path_buf(), device, interrupt: interrupt_flag(), progress: verbose, dist };
    let mut screen = Screen { bar: None, verbose };
    let outcomes = suite::execute(suite, &opts, &mut screen)?;
    if !robustcnn::dist::is_main() {
        // Rank 0 of the job writes the comparison and the report.
        return Ok(());
    }
    let dirs: Vec<PathBuf> = suite.runs.iter().map(|r| Suite::run_dir(out, r)).collect();
    let (runs, skipped) = load_runs(&dirs);
    let failed: Vec<String> = suite
        .runs
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
        .map(|(r, _)| r.name.clone())
        .collect();
    // Workers that finish together: the one that claims the report writes it.
    let report_claim = match suite::claims::try_claim(out, "report", &suite::claims::worker_name())? {
        suite::claims::Attempt::Held { claim, .. } => Some(claim),
        suite::claims::Attempt::Busy(h) => {
            println!("the comparison and report are being written by {}", h.worker);
            None
        }
    };
    if !runs.is_empty() && report_claim.is_some() {
        let cmp = compare(&runs, Some(&suite.grid.baseline));
        report::write_all(out, &suite_title(suite, out), &protocol_line(suite), &cmp, &runs)?;
        println!("\n{}", cmp.markdown());
        println!("comparison: {} (.csv, .json)", out.join("comparison.md").display());
        println!("report: {}", out.join("report.html").display());
    }
    for s in &skipped {
        eprintln!("not in the comparison: {s}");
    }
    // After the work, beside the numbers they qualify, so that a refusal stays one line.
    for w in suite.protocol.warnings() {
        eprintln!("warning: {w}");
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} runs failed ({}); the others are in the comparison. Fix the cause and run the same command again: finished runs are skipped",
            failed.len(),
            suite.runs.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The report's title: the suite's name, else its folder.
fn suite_title(suite: &Suite, dir: &Path) -> String {
    if suite.grid.name.is_empty() {
        format!("Suite {}", dir.display())
    } else {
        suite.grid.name.clone()
    }
}

/// One line describing the grid and the protocol, for the report.
fn protocol_line(suite: &Suite) -> String {
    let p = &suite.protocol;
    let g = &suite.grid;
    let images = p.limit.map_or("all test images".to_string(), |n| format!("the first {n} test images"));
    let corr = if p.corruptions.trim().is_empty() {
        "no corruptions".to_string()
    } else {
        format!(
            "corruptions '{}' at severities {:?} generated on the fly (seed {})",
            p.corruptions, p.severities, p.corruption_seed
        )
    };
    let att = if p.attacks.is_empty() {
        "no attacks".to_string()
    } else {
        format!("attacks {} at ℓ∞ ε {} (PGD {} steps)", p.attacks.join(", "), p.eps.join(", "), p.pgd_steps)
    };
    // Training evaluates the whole test split, so a limited suite's clean column comes from that
    // (the comparison reads each run's most complete clean evaluation).
    let (clean, clean_note) = match p.limit {
        Some(_) => ("", " Clean accuracy from each run's most complete evaluation (its images in the table)."),
        None => ("clean, ", ""),
    };
    format!(
        "{} runs: {} × seeds {:?}; one training schedule; the {} weights evaluated on {images}: {clean}{corr}; {att}.{clean_note}",
        suite.runs.len(),
        g.methods.join(", "),
        g.seeds,
        p.weights,
    )
}

/// The suite recorded in `dir` (suite.toml), read for its grid and protocol only: a GPU suite reads
/// the same on a machine without one.
fn recorded_suite(dir: &Path) -> Option<Suite> {
    let recipe = std::fs::read_to_string(dir.join(suite::SUITE_FILE)).ok()?;
    Suite::from_toml("suite.toml", &recipe, &["train.device=\"cpu\"".to_string()]).ok()
}

/// The runs below `dir`, in the order of the suite recorded there (so rows and colours match the
/// suite's own report), else sorted by path.
fn runs_in(dir: &Path, recorded: Option<&Suite>) -> Result<Vec<PathBuf>> {
    let mut dirs = find_runs(dir)?;
    if let Some(s) = recorded {
        let order: Vec<PathBuf> = s.runs.iter().map(|r| Suite::run_dir(dir, r)).collect();
        dirs.sort_by_key(|d| order.iter().position(|o| o == d).unwrap_or(usize::MAX));
    }
    Ok(dirs)
}

pub fn compare_cmd(a: &CompareArgs) -> Result<()> {
    let mut dirs = Vec::new();
    for r in &a.runs {
        dirs.extend(runs_in(r, recorded_suite(r).as_ref())?);
    }
    let (runs, skipped) = load_runs(&dirs);
    for s in &skipped {
        eprintln!("skipped: {s}");
    }
    if runs.is_empty() {
        bail!("none of the runs given has results to compare (train and evaluate them first)");
    }
    report::check_rows(&runs)?;
    let baseline = a.baseline.clone().unwrap_or_else(|| "baseline".into());
    if a.baseline.is_some() && !runs.iter().any(|r| r.method == baseline) {
        bail!("--baseline {baseline}: no run of that method among those given");
    }
    if let Some(out) = &a.out {
        // Before the table: a folder that cannot be made is the one line of a failed command.
        std::fs::create_dir_all(out).with_context(|| format!("--out {}: cannot create the folder", out.display()))?;
    }
    let cmp = compare(&runs, Some(&baseline));
    print!("{}", cmp.markdown());
    if let Some(out) = &a.out {
        report::write_all(out, "Comparison", &format!("{} runs", runs.len()), &cmp, &runs).context("--out")?;
        println!("written: {} (comparison.md, .csv, .json, report.html)", out.display());
    }
    Ok(())
}

pub fn report_cmd(a: &ReportArgs) -> Result<()> {
    let suite_grid = recorded_suite(&a.dir);
    let dirs = runs_in(&a.dir, suite_grid.as_ref())?;
    let (runs, skipped) = load_runs(&dirs);
    for s in &skipped {
        eprintln!("skipped: {s}");
    }
    if runs.is_empty() {
        bail!("{}: no finished run with results to report on", a.dir.display());
    }
    report::check_rows(&runs)?;
    if let Some(b) = a.baseline.as_ref().filter(|b| !runs.iter().any(|r| &r.method == *b)) {
        bail!("--baseline {b}: no run of that method in {}", a.dir.display());
    }
    let baseline = a
        .baseline
        .clone()
        .or_else(|| suite_grid.as_ref().map(|s| s.grid.baseline.clone()))
        .unwrap_or_else(|| "baseline".into());
    let cmp = compare(&runs, Some(&baseline));
    let (title, sub) = match &suite_grid {
        Some(s) => (suite_title(s, &a.dir), protocol_line(s)),
        None => (format!("Run {}", a.dir.display()), format!("{} run(s)", runs.len())),
    };
    report::write_all(&a.dir, &title, &sub, &cmp, &runs).context("writing the report")?;
    println!("report: {}", a.dir.join("report.html").display());
    Ok(())
}
