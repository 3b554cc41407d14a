//! The `robustcnn` command: a thin clap layer over the robustcnn library.
mod commands;
mod corrupt_bench;
mod corrupt_cmd;
mod corrupt_manifest;
mod distributed;
mod engine_args;
mod eval_attack_cmd;
mod eval_attack_multilabel;
mod eval_corruptions_cmd;
mod eval_reid_attack_cmd;
mod explain_cmd;
mod import_cmd;
mod imported;
mod interrupt;
mod libtorch_errors;
mod robustbench_args;
mod shorthand;
mod suite_cmd;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Parses a count that must be at least 1 (a batch size, a step, a number of images).
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a whole number of at least 1, got '{text}'")),
    }
}

#[derive(Parser)]
#[command(
    name = "robustcnn",
    version,
    about = "Train CNNs that stay right when their input is degraded, and measure it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (a TOML recipe plus command-line overrides) into a run directory.
    Train(TrainArgs),
    /// Write corrupted copies of a dataset (CIFAR-10-C / ImageNet-C layout), or preview them.
    Corrupt(corrupt_cmd::CorruptArgs),
    /// Evaluate a trained run.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// List the models with parameter counts and stage names.
    Models,
    /// List the training methods.
    Methods,
    /// List, inspect or download datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// The main job on the embedded data: every seed method trained, evaluated and compared in report.html.
    Demo(DemoArgs),
    /// Train and evaluate a grid of methods × seeds (× models × datasets × training fractions) under
    /// one protocol, then write the comparison and report.html; rerunning resumes.
    Suite(suite_cmd::SuiteArgs),
    /// One table over runs or suites: clean accuracy, mCE, relative mCE, corruption families and
    /// robust accuracy, mean ± std over seeds, differences to the baseline.
    Compare(suite_cmd::CompareArgs),
    /// Write report.html (plots embedded) for a run or a suite directory.
    Report(suite_cmd::ReportArgs),
    /// Measure training, inference and input-gradient throughput and peak memory.
    Bench(BenchArgs),
    /// Make a run directory from a state dict trained elsewhere (torchvision, timm or RobustBench
    /// names), to evaluate or finetune like any run.
    Import(import_cmd::ImportArgs),
    /// Draw what LFM, TENET and FMA do to one image (masks, channel groups, feature-map differences).
    Explain(explain_cmd::ExplainArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// TOML recipe (configs/*.toml); defaults apply to what it leaves out.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Run directory to create (or to continue with --resume).
    #[arg(long, short, default_value = "runs/train")]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (its own config is used).
    #[arg(long)]
    pub resume: bool,
    /// Override a config key, e.g. --set optim.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Shorthand for --set model.name=…
    #[arg(long)]
    pub model: Option<String>,
    /// Training method (robustcnn methods lists them; combine with +, e.g. tenet+augmix);
    /// shorthand for --set method.name=…
    #[arg(long)]
    pub method: Option<String>,
    /// Finetune: start from this run's weights (its best, else its last) or a .safetensors file;
    /// shorthand for --set train.init=…
    #[arg(long, value_name = "RUN")]
    pub init: Option<PathBuf>,
    /// Shorthand for --set data.dataset=…
    #[arg(long)]
    pub dataset: Option<String>,
    /// Shorthand for --set data.data_dir=…
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Total optimizer steps (overrides epochs).
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// fp32, bf16, or fp16 (CUDA, with a dynamic loss scaler): mixed precision through libtorch's
    /// autocast for the training steps, weights kept in fp32 (train.precision; docs/precision.md).
    #[arg(long)]
    pub precision: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    pub val_fraction: Option<f64>,
    /// Stop with a resumable checkpoint after this many steps in total.
    #[arg(long, value_name = "STEPS", value_parser = at_least_one)]
    pub stop_after: Option<usize>,
    /// No progress bars or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Clean test accuracy, top-5, per-class accuracy, confusion matrix, NLL and calibration error.
    Clean(EvalCleanArgs),
    /// Accuracy under the common corruptions (CIFAR-10-C / ImageNet-C protocol): per corruption and
    /// severity, on the fly or from a -C directory, with CE and mCE.
    Corruptions(eval_corruptions_cmd::EvalCorruptionsArgs),
    /// Robust accuracy under adversarial attacks (FGSM, PGD, APGD, FAB, Square, AutoAttack) per
    /// budget, with gradient-masking checks, per-sample outcomes and a plot.
    Attack(eval_attack_cmd::EvalAttackArgs),
    /// Re-identification: queries attacked in feature space (I-FGSM, MI-FGSM), robust Rank-1 and mAP.
    ReidAttack(eval_reid_attack_cmd::EvalReidAttackArgs),
}

#[derive(Args)]
pub struct EvalCleanArgs {
    #[command(flatten)]
    pub run_args: commands::RunArgs,
    /// Evaluate on the test set (default) or the validation split.
    #[arg(long, default_value = "test", value_parser = ["test", "val"])]
    pub split: String,
    /// Multi-label tasks: all-points AP (VOC 2010+) or 11-point AP (VOC 2007) (docs/multilabel.md §3).
    #[arg(long, default_value = "all-points", value_parser = ["all-points", "11-point"])]
    pub ap: String,
    /// Re-identification: rank the gallery by k-reciprocal re-ranking (k1 20, k2 6, λ 0.3; docs/reid.md §3).
    #[arg(long)]
    pub rerank: bool,
}

#[derive(Subcommand)]
enum DataCommand {
    /// The datasets the tool knows.
    List,
    /// Read a dataset and print its sizes and class counts.
    Info {
        name: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Download a dataset's official files (checksums verified).
    Fetch {
        name: String,
        /// Where to put the files (default: the cache the tool searches); --data-dir as train spells it.
        #[arg(long, visible_alias = "data-dir")]
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where the demo's suite goes.
    #[arg(long, short, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Training epochs per run [default: the demo recipe's].
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Only these of the demo's methods, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Models to measure, comma-separated.
    #[arg(long, default_value = "resnet20,resnet18", value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long, default_value_t = 128)]
    pub batch: i64,
    /// Input shape CxHxW.
    #[arg(long, default_value = "3x32x32")]
    pub input: String,
    /// Timed iterations per measurement (after 3 warm-up iterations).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Numeric precision: fp32, or bf16 / fp16 (CUDA) mixed precision through libtorch's autocast (docs/precision.md).
    #[arg(long, default_value = "fp32")]
    pub precision: String,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also train each model for one epoch on this dataset (loader, augmentation and optimizer
    /// included) and report its throughput beside the pure step rate at the dataset's image shape,
    /// timed over as many steps as the epoch.
    #[arg(long, value_name = "DATASET")]
    pub epoch: Option<String>,
    /// Where --epoch finds its files (as for train --data-dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Measure the FGSM and PGD-10 attacks (images/s) instead of training and inference.
    #[arg(long)]
    pub attacks: bool,
    /// Time these training methods' steps against the plain step instead (e.g. lfm,tenet,free-at+tenet).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
}

fn main() {
    // Rust ignores SIGPIPE, which turns `robustcnn models | head` into a panic on the closed pipe;
    // the default action ends the process quietly, as other command-line tools do.
    // SAFETY: setting a signal's disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = libtorch_errors::guard(|| {
        robustcnn::allocator::keep_freed_memory()?;
        run(cli.command)
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        let interrupted = matches!(e.downcast_ref::<robustcnn::Error>(), Some(robustcnn::Error::Interrupted(_)));
        std::process::exit(if interrupted { 130 } else { 1 });
    }
}

/// Runs one parsed command; train, eval, suite and the training benchmark first join the torchrun
/// or srun job they were started in, every other command refuses to run as several ranks.
fn run(command: Command) -> anyhow::Result<()> {
    let job = match &command {
        Command::Train(_) | Command::Eval(_) => distributed::join_if_launched()?,
        Command::Bench(b) if b.is_data_parallel_kind() => distributed::join_if_launched()?,
        Command::Suite(a) if !a.list => distributed::join_if_launched()?,
        other => {
            distributed::refuse_if_launched(&format!("robustcnn {}", other.name()))?;
            None
        }
    };
    let result = run_joined(command, job.clone());
    if let (Ok(()), Some(job)) = (&result, job) {
        job.finish()?;
    }
    result
}

/// Runs one parsed command, as a rank of `job` where there is one.
fn run_joined(command: Command, job: Option<std::sync::Arc<robustcnn::dist::Dist>>) -> anyhow::Result<()> {
    match command {
        Command::Train(a) => commands::train(&a, job),
        Command::Eval(EvalCommand::Clean(a)) => commands::eval_clean(&a).map_err(|e| a.run_args.name_model(e)),
        Command::Eval(EvalCommand::Corruptions(a)) => {
            eval_corruptions_cmd::run(&a).map_err(|e| a.run_args.name_model(e))
        }
        Command::Eval(EvalCommand::Attack(a)) => eval_attack_cmd::run(&a).map_err(|e| a.run_args.name_model(e)),
        Command::Eval(EvalCommand::ReidAttack(a)) => {
            eval_reid_attack_cmd::run(&a).map_err(|e| a.run_args.name_model(e))
        }
        Command::Corrupt(a) => corrupt_cmd::run(&a),
        Command::Models => commands::models(),
        Command::Methods => commands::methods(),
        Command::Data(DataCommand::List) => commands::data_list(),
        Command::Data(DataCommand::Info { name, data_dir }) => commands::data_info(&name, data_dir),
        Command::Data(DataCommand::Fetch { name, dir }) => commands::data_fetch(&name, dir),
        Command::Demo(a) => commands::demo(&a),
        Command::Suite(a) => suite_cmd::run_suite_cmd(&a),
        Command::Compare(a) => suite_cmd::compare_cmd(&a),
        Command::Report(a) => suite_cmd::report_cmd(&a),
        Command::Bench(a) => commands::bench(&a),
        Command::Explain(a) => explain_cmd::run(&a),
        Command::Import(a) => import_cmd::run(&a),
    }
}

impl BenchArgs {
    /// The plain training benchmark (not --attacks, --methods or --epoch), which runs as ranks of a job.
    fn is_data_parallel_kind(&self) -> bool {
        !self.attacks && self.methods.is_empty() && self.epoch.is_none()
    }
}

impl Command {
    /// The subcommand's name, for messages.
    fn name(&self) -> &'static str {
        match self {
            Command::Train(_) => "train",
            Command::Eval(EvalCommand::Clean(_)) => "eval clean",
            Command::Eval(EvalCommand::Corruptions(_)) => "eval corruptions",
            Command::Eval(EvalCommand::Attack(_)) => "eval attack",
            Command::Eval(EvalCommand::ReidAttack(_)) => "eval reid-attack",
            Command::Corrupt(_) => "corrupt",
            Command::Models => "models",
            Command::Methods => "methods",
            Command::Data(_) => "data",
            Command::Demo(_) => "demo",
            Command::Suite(_) => "suite",
            Command::Compare(_) => "compare",
            Command::Report(_) => "report",
            Command::Bench(_) => "bench",
            Command::Explain(_) => "explain",
            Command::Import(_) => "import",
        }
    }
}
