//! `robustcnn suite`: every method of a grid trained on one schedule and evaluated under one
//! protocol. Resumable and idempotent: finished runs are skipped, an interrupted one resumes, a
//! failed one is reported and the others go on.
pub mod claims;
mod plan;
mod ranks;

pub use claims::Holder;
pub use plan::{Grid, RunPlan, Suite};

use crate::error::{Error, IoContext, Result};
use crate::eval::protocol::{evaluate_run, is_evaluated};
use crate::train::{self, RunDir, RunOptions, CHECKPOINT_FILE};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// The recipe a suite directory was made from.
pub const SUITE_FILE: &str = "suite.toml";

/// Where a run stands before the suite touches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Trained and evaluated under this protocol: skipped.
    Done,
    /// Trained; its evaluation is missing or under another protocol.
    Evaluate,
    /// Interrupted: resumes from its checkpoint.
    Resume,
    /// Not started (or stopped before its first checkpoint): trained from the start.
    Fresh,
}

/// How one run of this invocation ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    Skipped,
    Completed { seconds: f64 },
    Failed { error: String },
}

/// What the caller hears while the suite works.
pub trait Observer {
    /// Run `index` of `total` begins in `state`; `eta_s` estimates the suite's remaining time.
    fn run_started(&mut self, index: usize, total: usize, run: &RunPlan, state: RunState, eta_s: Option<f64>);
    /// A step inside the run (training, an evaluation phase).
    fn phase(&mut self, message: &str);
    fn run_ended(&mut self, index: usize, run: &RunPlan, outcome: &Outcome);
    /// Every run left is held by another worker: this one waits for them (and takes over a claim that goes stale).
    fn waiting(&mut self, _held: &[(&RunPlan, Holder)]) {}
    /// This worker took `run` over from `worker`, whose claim went stale.
    fn took_over(&mut self, _run: &RunPlan, _worker: &str) {}
}

/// Options of one invocation.
pub struct ExecOptions {
    pub out: PathBuf,
    /// Device for training and evaluation, overriding the recipe's (e.g. cuda).
    pub device: Option<String>,
    pub interrupt: Arc<AtomicBool>,
    /// Show the training loop's own progress bars.
    pub progress: bool,
    /// The torchrun or srun job whose ranks run every run data-parallel (docs/distributed.md §4).
    pub dist: Option<Arc<crate::dist::Dist>>,
}

/// The job when it has several ranks.
fn multi_rank(opts: &ExecOptions) -> Option<&crate::dist::Dist> {
    opts.dist.as_deref().filter(|d| d.world() > 1)
}

/// The state of `run` in the suite directory `out` under `suite`'s protocol.
pub fn run_state(out: &Path, suite: &Suite, run: &RunPlan) -> RunState {
    let dir = Suite::run_dir(out, run);
    if RunDir::is_finished(&dir) {
        if is_evaluated(&dir, &suite.protocol) {
            RunState::Done
        } else {
            RunState::Evaluate
        }
    } else if dir.join(CHECKPOINT_FILE).is_file() {
        RunState::Resume
    } else {
        RunState::Fresh
    }
}

/// Checks that `out` can hold this suite: writable, and any earlier suite there trained the same
/// recipe (its grid may grow and its protocol change; its training recipe may not).
pub fn prepare_dir(suite: &Suite, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::Config(format!("{}: cannot create the suite directory: {e}", out.display())))?;
    train::checkpoint::check_writable(out)
        .map_err(|e| Error::Config(format!("{}: the suite directory is not writable: {e}", out.display())))?;
    let file = out.join(SUITE_FILE);
    if let Ok(old) = std::fs::read_to_string(&file) {
        if training_part(&old) != training_part(&suite.source) {
            return Err(Error::Config(format!(
                "{}: this directory holds a suite trained with a different recipe (data, model, optim, train \
                 or method settings differ); choose another --out, or delete it to start over",
                out.display()
            )));
        }
    }
    train::checkpoint::write_bytes_atomic(&file, suite.source.as_bytes())
}

/// The recipe without its grid and protocol: what every run's training depends on.
fn training_part(text: &str) -> Option<toml::Table> {
    let mut t: toml::Table = text.parse().ok()?;
    t.remove("suite");
    t.remove("evaluate");
    Some(t)
}

/// Seconds the remaining runs should take, from the runs completed so far (same method first).
fn eta(suite: &Suite, states: &[RunState], from: usize, done: &[(String, f64)]) -> Option<f64> {
    if done.is_empty() {
        return None;
    }
    let mean = |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let overall = mean(done.iter().map(|d| d.1).collect())?;
    let total = (from..suite.runs.len())
        .filter(|&i| states[i] != RunState::Done)
        .map(|i| {
            let same = done.iter().filter(|d| d.0 == suite.runs[i].method).map(|d| d.1).collect();
            mean(same).unwrap_or(overall)
        })
        .sum();
    Some(total)
}

/// Trains and evaluates every run that needs it and no other worker holds, claiming each first
/// (docs/distributed.md §4); then waits for the runs other workers hold, taking over any whose claim
/// goes stale. An interrupt stops the suite with [`Error::Interrupted`]; any other failure is
/// recorded and the next run starts, except in a job of several ranks, which it stops.
pub fn execute(suite: &Suite, opts: &ExecOptions, obs: &mut dyn Observer) -> Result<Vec<Outcome>> {
    if let Some(d) = multi_rank(opts).filter(|d| !d.is_main()) {
        return follow(suite, opts, d, obs);
    }
    let led = lead(suite, opts, obs);
    // The other ranks stop with rank 0, whatever ended its part.
    match (led, multi_rank(opts)) {
        (Ok(outcomes), Some(d)) => ranks::tell(d, ranks::Order::End).map(|_| outcomes),
        (led, _) => led,
    }
}

/// Another rank of the job: runs what rank 0 orders until it says the suite is done.
fn follow(suite: &Suite, opts: &ExecOptions, d: &crate::dist::Dist, obs: &mut dyn Observer) -> Result<Vec<Outcome>> {
    loop {
        match ranks::hear(d, suite.runs.len())? {
            ranks::Order::Run(i, state) => run_one(suite, &suite.runs[i], state, opts, obs)?,
            ranks::Order::Wait => {}
            ranks::Order::End => return Ok(vec![Outcome::Skipped; suite.runs.len()]),
        }
    }
}

/// A single worker, or rank 0 of a job: claims and runs every run it can (see [`execute`]).
fn lead(suite: &Suite, opts: &ExecOptions, obs: &mut dyn Observer) -> Result<Vec<Outcome>> {
    prepare_dir(suite, &opts.out)?;
    let worker = claims::worker_name();
    let total = suite.runs.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut announced_wait = Vec::new();
    loop {
        let states: Vec<RunState> = suite.runs.iter().map(|r| run_state(&opts.out, suite, r)).collect();
        let mut held = Vec::new();
        for (i, run) in suite.runs.iter().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            if states[i] == RunState::Done {
                obs.run_started(i, total, run, RunState::Done, None);
                obs.run_ended(i, run, &Outcome::Skipped);
                outcomes[i] = Some(Outcome::Skipped);
                continue;
            }
            let (claim, took_over) = match claims::try_claim(&opts.out, &run.name, &worker)? {
                claims::Attempt::Busy(h) => {
                    held.push((run, h));
                    continue;
                }
                claims::Attempt::Held { claim, took_over } => (claim, took_over),
            };
            // Another worker may have finished it between the look and the claim.
            let state = run_state(&opts.out, suite, run);
            obs.run_started(i, total, run, state, eta(suite, &states, i, &timings));
            if let Some(w) = took_over {
                obs.took_over(run, &w);
            }
            if state == RunState::Done {
                obs.run_ended(i, run, &Outcome::Skipped);
                outcomes[i] = Some(Outcome::Skipped);
                continue;
            }
            let started = Instant::now();
            if let Some(d) = multi_rank(opts) {
                ranks::tell(d, ranks::Order::Run(i, state))?;
            }
            let outcome = match run_one(suite, run, state, opts, obs) {
                Ok(()) => {
                    let seconds = started.elapsed().as_secs_f64();
                    timings.push((run.method.clone(), seconds));
                    Outcome::Completed { seconds }
                }
                Err(e @ Error::Interrupted(_)) => return Err(e),
                // The ranks of a job cannot part ways: a failed run stops the suite on every rank.
                Err(e) if multi_rank(opts).is_some() => return Err(e),
                Err(e) => Outcome::Failed { error: e.to_string() },
            };
            drop(claim);
            obs.run_ended(i, run, &outcome);
            outcomes[i] = Some(outcome);
        }
        if held.is_empty() {
            break;
        }
        let names: Vec<String> = held.iter().map(|(r, _)| r.name.clone()).collect();
        if names != announced_wait {
            obs.waiting(&held);
            announced_wait = names;
        }
        if opts.interrupt.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Interrupted("stopped while waiting for other workers' runs".into()));
        }
        std::thread::sleep((claims::stale_after() / 4).min(std::time::Duration::from_secs(10)));
        if let Some(d) = multi_rank(opts) {
            ranks::tell(d, ranks::Order::Wait)?;
        }
    }
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Skipped)).collect())
}

/// Brings one run to Done: trains (fresh or resumed) if needed, then evaluates.
fn run_one(suite: &Suite, run: &RunPlan, state: RunState, opts: &ExecOptions, obs: &mut dyn Observer) -> Result<()> {
    let dir = Suite::run_dir(&opts.out, run);
    let main = opts.dist.as_ref().is_none_or(|d| d.is_main());
    if main && state == RunState::Fresh && dir.exists() {
        // Stopped before its first checkpoint: nothing worth keeping.
        std::fs::remove_dir_all(&dir).at(&dir)?;
    }
    if matches!(state, RunState::Fresh | RunState::Resume) {
        let mut cfg = run.config.clone();
        if let Some(d) = &opts.device {
            cfg.train.device = d.clone();
        }
        obs.phase(if state == RunState::Resume { "training (resumed)" } else { "training" });
        let ropts = RunOptions {
            out: dir.clone(),
            resume: state == RunState::Resume,
            interrupt: opts.interrupt.clone(),
            stop_after: None,
            progress: opts.progress,
            dist: opts.dist.clone(),
        };
        train::train(&cfg, &ropts).map_err(|e| match e {
            Error::Interrupted(_) => {
                Error::Interrupted(format!("stopped during {}; run the same command again to resume it", run.name))
            }
            e => e,
        })?;
    }
    let Some(d) = multi_rank(opts) else {
        return evaluate_run(&dir, &suite.protocol, opts.device.as_deref(), &mut |m| obs.phase(m));
    };
    // Every rank evaluates its share once rank 0 has written the weights, on its own GPU.
    d.barrier()?;
    let device = d.local_device(opts.device.as_deref().unwrap_or(&run.config.train.device))?;
    evaluate_run(&dir, &suite.protocol, Some(&device), &mut |m| obs.phase(m))?;
    d.barrier()
}
