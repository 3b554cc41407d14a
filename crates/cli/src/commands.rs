//! What each subcommand does, in terms of the library.
use crate::interrupt::interrupt_flag;
use crate::shorthand::Shorthand;
use crate::{BenchArgs, DemoArgs, EvalCleanArgs, TrainArgs};
use anyhow::{bail, Context, Result};
use robustcnn::config::Config;
use robustcnn::data::{self, DataSource, Dataset};
use robustcnn::eval::clean::{evaluate_with, CleanResult};
use robustcnn::eval::multilabel::ApMethod;
use robustcnn::eval::store::{self, ResultsStore};
use robustcnn::models::{self, ModelSpec};
use robustcnn::precision::Precision;
use robustcnn::train::{self, RunOptions};
use std::path::{Path, PathBuf};

/// The demo's recipe, as committed in configs/.
const DEMO_CONFIG: &str = include_str!("../../../configs/demo.toml");

/// The config file plus the shorthand flags, as `--set` overrides.
fn config_from(a: &TrainArgs) -> Result<Config> {
    Ok(Config::load(a.config.as_deref(), &override_sets(a)?)?)
}

/// The shorthand flags and `--set`s as `key=value` overrides.
fn override_sets(a: &TrainArgs) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut text = |flag: &str, key: &str, v: Option<String>| {
        if let Some(v) = v {
            flags.push(Shorthand::new(flag, &v, key, quoted(&v)));
        }
    };
    text("--model", "model.name", a.model.clone());
    text("--method", "method.name", a.method.clone());
    text("--dataset", "data.dataset", a.dataset.clone());
    text("--data-dir", "data.data_dir", a.data_dir.as_ref().map(|d| d.display().to_string()));
    text("--init", "train.init", a.init.as_ref().map(|d| d.display().to_string()));
    text("--device", "train.device", a.device.clone());
    text("--precision", "train.precision", a.precision.clone());
    let mut number = |flag: &str, key: &str, v: Option<String>| {
        if let Some(v) = v {
            flags.push(Shorthand::new(flag, &v, key, &v));
        }
    };
    number("--epochs", "train.epochs", a.epochs.map(|v| v.to_string()));
    number("--steps", "train.steps", a.steps.map(|v| v.to_string()));
    number("--batch-size", "data.batch_size", a.batch_size.map(|v| v.to_string()));
    number("--lr", "optim.lr", a.lr.map(toml_float));
    number("--seed", "train.seed", a.seed.map(|v| v.to_string()));
    number("--val-fraction", "data.val_fraction", a.val_fraction.map(toml_float));
    crate::shorthand::merged(flags, &a.set)
}

/// `--resume` continues with the run's own recipe: a recipe or option that would change it is
/// refused, not ignored (the same values, as a restarted script passes them, are fine).
fn check_resume_options(a: &TrainArgs) -> Result<()> {
    let sets = override_sets(a)?;
    let path = a.out.join("config.toml");
    let own_text = match std::fs::read_to_string(&path) {
        Ok(t) if !sets.is_empty() || a.config.is_some() => t,
        // Nothing asked, or no run there (which training itself reports).
        _ => return Ok(()),
    };
    let own: toml::Table = own_text.parse().with_context(|| format!("{}: not a TOML recipe", path.display()))?;
    let mut asked = own.clone();
    if let Some(recipe) = &a.config {
        let text = std::fs::read_to_string(recipe).with_context(|| format!("{}: cannot read", recipe.display()))?;
        let t: toml::Table = text.parse().with_context(|| format!("{}: not a TOML recipe", recipe.display()))?;
        robustcnn::config::merge_tables(&mut asked, &t);
    }
    for s in &sets {
        robustcnn::config::apply_override(&mut asked, s)?;
    }
    let normal = |t: toml::Table| -> Result<std::collections::BTreeMap<String, String>> {
        let table = toml::Table::try_from(Config::from_table("the resumed recipe", t)?)?;
        Ok(robustcnn::config::flat_keys(&table))
    };
    let (own, asked) = (normal(own)?, normal(asked)?);
    // A key only one side writes is at its default on the other (defaults are left out of a recipe).
    let differs = own.keys().chain(asked.keys()).find(|k| own.get(*k) != asked.get(*k));
    if let Some(key) = differs {
        let say = |t: &std::collections::BTreeMap<String, String>| {
            t.get(key).map_or(format!("{key} at its default"), |v| format!("{key} = {v}"))
        };
        let (was, value) = (say(&own), say(&asked));
        bail!(
            "--resume: {} continues with its own recipe ({was}); this command asks for {value}. \
             Leave that option out, or start a new run (--init {} to finetune from it)",
            a.out.display(),
            a.out.display()
        );
    }
    Ok(())
}

/// A number as TOML writes it (`nan`, `inf` and `-inf` included), so the config's checks see it.
fn toml_float(v: f64) -> String {
    match v {
        v if v.is_nan() => "nan".to_string(),
        v if v.is_infinite() => if v > 0.0 { "inf" } else { "-inf" }.to_string(),
        v => format!("{v:?}"),
    }
}

/// The clean results of one split ("test" or "val"), named by it.
fn print_clean(r: &CleanResult, split: &str) {
    if let Some(x) = &r.retrieval {
        let none = if x.queries_without_matches > 0 {
            format!("; {} queries without a true match left out", x.queries_without_matches)
        } else {
            String::new()
        };
        let how = if x.re_ranking.is_some() { "retrieval, re-ranked" } else { "retrieval" };
        println!(
            "{how}: Rank-1 {:.2}%  Rank-5 {:.2}%  Rank-10 {:.2}%  mAP {:.2}%  ({} queries, {} gallery images{none})",
            100.0 * x.rank1,
            100.0 * x.rank5,
            100.0 * x.rank10,
            100.0 * x.map,
            x.queries,
            x.gallery
        );
        return;
    }
    if let Some(m) = &r.multi_label {
        let ap = if m.ap_method == ApMethod::ElevenPoint { "11-point" } else { "all-points" };
        let none = if m.classes_without_positives.is_empty() {
            String::new()
        } else {
            format!("; no positives, left out: {}", m.classes_without_positives.join(", "))
        };
        println!(
            "{split} mAP {:.2}% ({ap} AP over {} classes{none})  top-1 precision {:.2}%  BCE {:.4}  ({} images)",
            100.0 * m.map,
            m.per_class_ap.iter().flatten().count(),
            100.0 * r.top1,
            r.nll,
            r.samples
        );
        return;
    }
    let top5 = r.top5.map_or(String::new(), |t| format!("  top-5 {:.2}%", 100.0 * t));
    println!(
        "{split} accuracy {:.2}%{top5}  NLL {:.4}  ECE {:.4}  ({} images)",
        100.0 * r.top1,
        r.nll,
        r.ece,
        r.samples
    );
}

pub fn train(a: &TrainArgs, dist: Option<std::sync::Arc<robustcnn::dist::Dist>>) -> Result<()> {
    if a.resume {
        check_resume_options(a)?;
    }
    let cfg = if a.resume { Config::default() } else { config_from(a)? };
    let opts = RunOptions {
        out: a.out.clone(),
        resume: a.resume,
        interrupt: interrupt_flag(),
        stop_after: a.stop_after,
        progress: !a.quiet,
        dist,
    };
    let s = train::train(&cfg, &opts)?;
    print_clean(&s.test, "test");
    println!("weights: {}; run: {}", s.selected, s.run.display());
    Ok(())
}

/// Which weights of a run, on which device, in batches of what size.
#[derive(clap::Args)]
pub struct WeightsArgs {
    /// Which weights: best (validation), last, or a .safetensors file.
    #[arg(long, default_value = "best")]
    pub weights: String,
    /// cpu, cuda or cuda:N (default: the run's own).
    #[arg(long)]
    pub device: Option<String>,
    #[arg(long, default_value_t = 256, value_parser = crate::at_least_one)]
    pub batch_size: usize,
}

impl WeightsArgs {
    /// "RUN (weights: best)", naming the model in messages.
    pub fn label(&self, run: &Path) -> String {
        format!("{} (weights: {})", run.display(), self.weights)
    }
}

/// A trained run's model: which run, which weights, on which device, in batches of what size.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// The run directory.
    pub run: PathBuf,
    #[command(flatten)]
    pub how: WeightsArgs,
}

impl ModelArgs {
    /// The run with its data and model, the chosen weights loaded, and the weights' label.
    pub fn open(&self) -> Result<(train::RunDir, train::Prepared, String)> {
        load_run(&self.run, &self.how.weights, self.how.device.as_deref())
    }
}

/// Prefixes an error about a model's outputs being NaN or infinite with the model it concerns.
pub fn name_not_finite(e: anyhow::Error, model: impl FnOnce() -> String) -> anyhow::Error {
    match e.downcast_ref::<robustcnn::Error>() {
        Some(robustcnn::Error::NotFinite(_)) => e.context(model()),
        _ => e,
    }
}

/// The model an evaluation command works on (a run, or a TorchScript module with a dataset), how
/// many images, and where the results go. Shared by `eval clean`, `eval corruptions` and `eval attack`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The run directory (or --torchscript FILE --dataset NAME instead).
    #[arg(required_unless_present = "torchscript")]
    pub run: Option<PathBuf>,
    #[command(flatten)]
    pub how: WeightsArgs,
    #[command(flatten)]
    pub imported: crate::imported::ImportedArgs,
    /// Only the first N images (a quick look: kept beside, never in place of, a fuller evaluation).
    #[arg(long)]
    pub limit: Option<usize>,
    /// fp32, or bf16 (fp16 on CUDA) for speed: such an evaluation is kept beside, never in place of,
    /// the fp32 one (docs/precision.md).
    #[arg(long, default_value = "fp32")]
    pub precision: String,
    /// Results folder [default: RUN/results, or FILE's name with -results beside a --torchscript
    /// FILE]; each evaluation is kept in its evals/<kind>-<protocol>/ sub-folder and listed in index.json.
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
}

/// A model opened for evaluation: its data and model with the chosen weights, and its results folder.
pub struct Opened {
    /// The run directory or the TorchScript file.
    pub source: PathBuf,
    /// The weights file (for its MD5) and its label (best, last, the file given, or torchscript).
    pub weights: (PathBuf, String),
    pub prepared: train::Prepared,
    pub label: String,
    pub store: ResultsStore,
    /// The precision the evaluation runs in (--precision).
    pub precision: Precision,
}

impl RunArgs {
    /// The run (or TorchScript module) with its data and model, the chosen weights loaded; `--limit 0`
    /// fails first.
    pub fn open(&self) -> Result<Opened> {
        self.check_limit()?;
        let precision = Precision::parse(&self.precision, "--precision")?;
        let o = match (&self.run, &self.imported.torchscript) {
            (Some(run), None) => {
                let (run, prepared, label) = load_run(run, &self.how.weights, self.how.device.as_deref())?;
                let results = self.results.clone().unwrap_or_else(|| run.dir.join("results"));
                let weights = train::weights_file(&run.dir, &self.how.weights);
                Opened {
                    source: run.dir.clone(),
                    weights,
                    prepared,
                    label,
                    store: ResultsStore::new(results),
                    precision,
                }
            }
            (None, Some(file)) => {
                let prepared = self.imported.open(file, self.how.device.as_deref())?;
                let stem = file.file_stem().map_or("model".into(), |s| s.to_string_lossy().to_string());
                let results = self.results.clone().unwrap_or_else(|| file.with_file_name(format!("{stem}-results")));
                let weights = (file.clone(), "torchscript".to_string());
                Opened {
                    source: file.clone(),
                    weights,
                    prepared,
                    label: "torchscript".into(),
                    store: ResultsStore::new(results),
                    precision,
                }
            }
            _ => bail!("give a run directory or --torchscript FILE, not both"),
        };
        precision.check_device(o.prepared.device, "--precision")?;
        o.prepared.net.set_precision(precision);
        check_results_folder(&o.store.dir).with_context(|| match &self.results {
            Some(dir) => format!("--results {}", dir.display()),
            None => "the results folder".to_string(),
        })?;
        Ok(o)
    }

    /// `--limit 0` asks for a number computed from nothing.
    pub fn check_limit(&self) -> Result<()> {
        if self.limit == Some(0) {
            bail!("--limit 0: nothing to evaluate (give at least 1 image, or leave --limit out for the whole set)");
        }
        Ok(())
    }

    /// An error about the model's outputs (NaN or infinite) names the run and weights it concerns.
    pub fn name_model(&self, e: anyhow::Error) -> anyhow::Error {
        name_not_finite(e, || match &self.run {
            Some(run) => self.how.label(run),
            None => self.source().display().to_string(),
        })
    }

    /// What is evaluated, for messages: the run directory or the TorchScript file.
    pub fn source(&self) -> PathBuf {
        self.run.clone().or_else(|| self.imported.torchscript.clone()).unwrap_or_default()
    }

    /// The first `--limit` images of `ds` (the `split` of the run); an error when there are none.
    pub fn limited(&self, ds: &Dataset, split: &str) -> Result<Dataset> {
        self.check_limit()?;
        if ds.is_empty() {
            bail!("{}: the {split} set has no images, so there is nothing to evaluate", self.source().display());
        }
        Ok(robustcnn::eval::protocol::limited(ds, self.limit, &self.source())?)
    }

    /// The protocol fields naming what is evaluated: weights and their MD5, split, images, limit
    /// (and, for a TorchScript module, its dataset and normalisation).
    pub fn subject(&self, o: &Opened, kind: &str, split: &str, images: usize) -> Result<serde_json::Value> {
        let (file, weights) = &o.weights;
        let mut subject = store::subject(kind, weights, file, split, images, self.effective_limit(o, split))?;
        if self.imported.torchscript.is_some() {
            let more = serde_json::json!({
                "dataset": o.prepared.cfg.data.dataset,
                "mean": self.imported.mean,
                "std": self.imported.std,
            });
            subject = store::with(subject, more);
        }
        Ok(store::with_precision(subject, o.precision))
    }

    /// `--limit` as it acts on the `split` it evaluates: None when it keeps the whole split.
    pub fn effective_limit(&self, o: &Opened, split: &str) -> Option<usize> {
        let full = if matches!(split, "val" | "validation") { o.prepared.val.as_ref() } else { Some(&o.prepared.test) };
        full.map_or(self.limit, |ds| robustcnn::eval::protocol::effective_limit(ds, self.limit))
    }

    pub fn batch(&self) -> usize {
        self.how.batch_size
    }
}

/// Checks, before an evaluation runs, that its results can be written to `dir` (created later, by
/// the store, so that a failed evaluation leaves no empty folder behind).
fn check_results_folder(dir: &Path) -> Result<()> {
    let mut existing = dir;
    while !existing.exists() {
        existing = existing.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    }
    if !existing.is_dir() {
        bail!("{} is a file, not a folder", existing.display());
    }
    robustcnn::train::checkpoint::check_writable(existing)
        .with_context(|| format!("cannot write in {}", existing.display()))
}

/// Prints where an evaluation's results went, and what was kept.
pub fn print_stored(o: &Opened, stored: &store::Stored) {
    println!("{}", stored.describe(&o.store.dir));
}

/// Opens a finished run with its data and model, and loads the chosen weights (best, last or a file).
pub fn load_run(dir: &Path, weights: &str, device: Option<&str>) -> Result<(train::RunDir, train::Prepared, String)> {
    Ok(train::open_trained(dir, weights, device)?)
}

pub fn eval_clean(a: &EvalCleanArgs) -> Result<()> {
    let o = a.run_args.open()?;
    let (split, ds) = match a.split.as_str() {
        "val" => {
            ("validation", o.prepared.val.as_ref().context("this run has no validation split (data.val_fraction = 0)")?)
        }
        _ => ("test", &o.prepared.test),
    };
    let ds = a.run_args.limited(ds, split)?;
    let ap = ApMethod::parse(&a.ap).with_context(|| format!("--ap {}: expected all-points or 11-point", a.ap))?;
    if ap != ApMethod::default() && !ds.is_multi_label() {
        bail!("--ap {}: the AP definition is for multi-label runs (voc2012); this run is single-label", a.ap);
    }
    let r = match (a.rerank, ds.retrieval.is_some()) {
        (false, _) => evaluate_with(&o.prepared.net, &ds, a.run_args.batch(), o.prepared.device, ap)?,
        (true, true) => {
            let p = Some(robustcnn::eval::rerank::Rerank::default());
            let x = robustcnn::eval::retrieval::evaluate_with(
                &o.prepared.net,
                &ds,
                a.run_args.batch(),
                o.prepared.device,
                p,
            )?;
            robustcnn::eval::clean::retrieval_result(x, &ds.class_names)
        }
        (true, false) => bail!("--rerank: re-ranking is for re-identification runs (market1501, dukemtmc-reid)"),
    };
    if !robustcnn::dist::is_main() {
        return Ok(());
    }
    let mut protocol = a.run_args.subject(&o, "clean", &a.split, r.samples)?;
    if let Some(p) = r.retrieval.as_ref().and_then(|x| x.re_ranking) {
        // Re-ranked results are kept apart from the plain ranking's.
        protocol = robustcnn::eval::store::with(protocol, serde_json::json!({ "re_ranking": p }));
    }
    if ds.is_multi_label() {
        // The AP definition is part of the protocol: 11-point and all-points results are kept apart.
        protocol = robustcnn::eval::store::with(protocol, serde_json::json!({ "ap": a.ap }));
    }
    let stored = o.store.write(r.evaluation(&o.label, protocol))?;
    print_clean(&r, &a.split);
    print_stored(&o, &stored);
    Ok(())
}

pub fn methods() -> Result<()> {
    use robustcnn::methods::Role;
    println!("{:<15} {:<13} summary", "method", "role");
    for m in robustcnn::methods::METHODS {
        let role = match m.role() {
            Role::Step => "step",
            Role::AfterUpdate => "after-update",
            Role::Data => "data",
        };
        println!("{:<15} {:<13} {}", m.name, role, m.summary);
    }
    println!(
        "combine with +: at most one step method, optionally tenet, any data methods (e.g. free-at+tenet, \
         tenet+augmix, st+ca)"
    );
    println!(
        "settings: [method.<name>] in the recipe, e.g. [method.tenet] or [method.adversarial] (see docs/usage.md)"
    );
    Ok(())
}

pub fn models() -> Result<()> {
    println!("{:<18} {:>12} {:>12}  {:<38} summary", "model", "params@1x28", "params@3x32", "stages");
    // Parameters for 10 classes; the count depends on the input channels, the stages do not.
    let build = |name: &str, c: i64| -> Result<(i64, String)> {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let spec =
            ModelSpec { in_channels: c, num_classes: 10, mean: vec![0.5; c as usize], std: vec![0.25; c as usize] };
        let net = models::build(&vs.root(), name, &spec)?;
        Ok((models::parameter_count(&vs), net.stages().join(",")))
    };
    for m in models::MODELS {
        let ((gray, _), (rgb, stages)) = (build(m.name, 1)?, build(m.name, 3)?);
        println!("{:<18} {:>12} {:>12}  {:<38} {}", m.name, gray, rgb, stages, m.summary);
    }
    Ok(())
}

pub fn data_list() -> Result<()> {
    for d in data::DATASETS {
        println!("{:<20} {}", d.name, d.summary);
    }
    Ok(())
}

pub fn data_info(name: &str, data_dir: Option<PathBuf>) -> Result<()> {
    data::registry_find(name)?;
    if data::published::NAMES.contains(&name) {
        print!("{}", data::published::describe(name, &DataSource { data_dir, ..Default::default() })?);
        return Ok(());
    }
    let s = data::load(name, &DataSource { data_dir, ..Default::default() })?;
    for (split, ds) in [("train", &s.train), ("test", &s.test)] {
        println!(
            "{split}: {} images of {}x{}x{}, {} classes, per class {:?}",
            ds.len(),
            ds.height,
            ds.width,
            ds.channels,
            ds.num_classes(),
            ds.class_counts()
        );
    }
    println!("classes: {}", s.train.class_names.join(", "));
    Ok(())
}

pub fn data_fetch(name: &str, dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| data::cache_dir(name));
    let files = robustcnn::data::fetch::fetch(name, &dir)?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

/// `robustcnn demo`: the demo suite (configs/demo.toml, embedded): every seed method on the small
/// CNN and the embedded data, the full evaluation, the comparison and report.html.
pub fn demo(a: &DemoArgs) -> Result<()> {
    let mut sets = vec![format!("train.device=\"{}\"", a.device)];
    if let Some(e) = a.epochs {
        sets.push(format!("train.epochs={e}"));
    }
    if let Some(n) = a.limit {
        sets.push(format!("evaluate.limit={n}"));
    }
    let mut suite = robustcnn::suite::Suite::from_toml("configs/demo.toml", DEMO_CONFIG, &sets)?;
    crate::suite_cmd::keep_methods(&mut suite, &a.methods)?;
    let mut methods: Vec<&str> = suite.runs.iter().map(|r| r.method.as_str()).collect();
    methods.dedup();
    println!(
        "demo: {} on the small CNN, fashion-mnist-mini (6,000 images, 10% held out for validation); \
         rerunning skips finished runs and resumes an interrupted one",
        methods.join(", ")
    );
    crate::suite_cmd::run_suite(&suite, &a.out, None, false)
}

fn parse_input(s: &str) -> Result<[i64; 3]> {
    let v: Vec<i64> = s.split('x').map(|p| p.trim().parse::<i64>()).collect::<Result<_, _>>().ok().unwrap_or_default();
    match v[..] {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok([c, h, w]),
        _ => bail!("--input {s}: expected CxHxW, e.g. 3x32x32"),
    }
}

/// `bench --attacks`: FGSM and PGD-10 images/s per model.
fn bench_attacks(a: &BenchArgs, input: [i64; 3], (device, precision): (tch::Device, Precision)) -> Result<()> {
    println!(
        "{:<16} {:>5} {:>8} {:>12} {:>13} {:>9}",
        "model", "batch", "input", "FGSM img/s", "PGD-10 img/s", "peak MiB"
    );
    let mut all = Vec::new();
    for m in &a.models {
        let r = robustcnn::bench::attacks(m, a.batch, input, a.iters, (device, precision))?;
        println!(
            "{:<16} {:>5} {:>8} {:>12.1} {:>13.1} {:>9.0}",
            r.model, r.batch, a.input, r.fgsm_images_per_s, r.pgd10_images_per_s, r.peak_rss_mib
        );
        all.push(r);
    }
    println!(
        "libtorch threads: {}; {}; PGD-10 is ℓ∞, ε 8/255, α 2/255, random start; model in eval mode",
        tch::get_num_threads(),
        robustcnn::allocator::setting()
    );
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&all)?)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// What the benchmark runs in: the precision and, for bf16 on the CPU, the instructions its kernels
/// can use.
fn precision_line(precision: Precision, device: tch::Device) -> String {
    match (precision, device) {
        (Precision::Bf16, tch::Device::Cpu) => match robustcnn::precision::cpu_bf16_instructions().as_slice() {
            [] if robustcnn::precision::cpu_runs_onednn_bf16() => {
                "precision bf16 (autocast); this CPU has neither AMX-BF16 nor AVX512-BF16: oneDNN's bf16 \
                 kernels emulate through AVX512 fp32 and may run slower than fp32"
                    .into()
            }
            [] => "precision bf16 (autocast); this CPU has no AVX512 and libtorch no bf16 kernels for it: \
                   convolutions and linear layers run as fp32 products of bf16-rounded operands"
                .into(),
            found => format!("precision bf16 (autocast); oneDNN's bf16 kernels use {}", found.join(", ")),
        },
        (p, _) => format!("precision {}", p.name()),
    }
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    let input = parse_input(&a.input)?;
    if a.batch <= 0 || a.iters == 0 {
        bail!("--batch and --iters must be at least 1");
    }
    let device = robustcnn::device::parse(&a.device)?;
    let precision = Precision::parse(&a.precision, "--precision")?;
    precision.check_device(device, "--precision")?;
    for m in &a.models {
        robustcnn::models::find(m).context("--models")?;
    }
    for m in &a.methods {
        robustcnn::methods::parts(m).context("--methods")?;
    }
    if let Some(dataset) = &a.epoch {
        robustcnn::data::registry_find(dataset).context("--epoch")?;
    }
    println!("{}", precision_line(precision, device));
    if a.attacks {
        return bench_attacks(a, input, (device, precision));
    }
    if !a.methods.is_empty() {
        return bench_methods(a, input, (device, precision));
    }
    if let Some(job) = robustcnn::dist::job() {
        return bench_data_parallel(a, input, (device, precision), &job);
    }
    println!(
        "{:<16} {:>5} {:>8} {:>12} {:>12} {:>8} {:>12} {:>12} {:>9}",
        "model", "batch", "input", "train img/s", "fwd+bwd/s", "opt ms", "infer img/s", "in-grad/s", "peak MiB"
    );
    let mut all = Vec::new();
    for m in &a.models {
        let r = robustcnn::bench::run(m, a.batch, input, a.iters, (device, precision))?;
        println!(
            "{:<16} {:>5} {:>8} {:>12.1} {:>12.1} {:>8.2} {:>12.1} {:>12.1} {:>9.0}",
            r.model,
            r.batch,
            a.input,
            r.train_images_per_s,
            r.forward_backward_images_per_s,
            r.optimizer_step_ms,
            r.inference_images_per_s,
            r.input_gradient_images_per_s,
            r.peak_rss_mib
        );
        all.push(r);
    }
    println!(
        "libtorch threads: {} (fused batch-norm loops on {}); {}",
        tch::get_num_threads(),
        robustcnn::bench::fused_loop_threads(),
        robustcnn::allocator::setting()
    );
    if let Some(dataset) = &a.epoch {
        for m in &a.models {
            epoch_throughput(m, dataset, a, device)?;
        }
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&all)?)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// Data-parallel training steps on every rank; rank 0 prints the throughput and the all-reduce's share.
fn bench_data_parallel(
    a: &BenchArgs,
    input: [i64; 3],
    how: (tch::Device, Precision),
    job: &std::sync::Arc<robustcnn::dist::Dist>,
) -> Result<()> {
    println!(
        "{:<16} {:>5} {:>6} {:>7} {:>8} {:>12} {:>9} {:>12} {:>9} {:>13} {:>9} {:>14} {:>11} {:>9} {:>7}",
        "model",
        "ranks",
        "batch",
        "threads",
        "buckets",
        "train img/s",
        "ms/step",
        "after img/s",
        "ms/step",
        "SyncBN img/s",
        "ms/step",
        "all-reduce ms",
        "exposed ms",
        "MiB/step",
        "hidden"
    );
    let mut all = Vec::new();
    for m in &a.models {
        let r = robustcnn::bench::data_parallel(m, a.batch, input, a.iters, how, job)?;
        println!(
            "{:<16} {:>5} {:>6} {:>7} {:>8} {:>12.1} {:>9.1} {:>12.1} {:>9.1} {:>13.1} {:>9.1} {:>14.2} {:>11.2} {:>9.2} {:>6.0}%",
            r.model,
            r.ranks,
            r.batch,
            r.threads,
            r.buckets,
            r.images_per_s,
            r.step_ms,
            r.images_per_s_after,
            r.step_ms_after,
            r.images_per_s_syncbn,
            r.step_ms_syncbn,
            r.all_reduce_ms,
            r.exposed_ms,
            r.all_reduce_mib_per_step,
            100.0 * r.hidden_fraction
        );
        all.push(r);
    }
    println!(
        "rank 0's timings; batch is per rank. train: gradients averaged during the backward pass, as training does; \
         after: averaged after it; SyncBN: train's way with train.sync_batchnorm. all-reduce ms: its whole cost (after); exposed ms: what the overlapped step \
         still waits for; hidden = 1 - exposed / all-reduce"
    );
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&all)?)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// Prints each method's step time relative to the plain step, per model.
fn bench_methods(a: &BenchArgs, input: [i64; 3], (device, precision): (tch::Device, Precision)) -> Result<()> {
    println!("{:<18} {:>5} {:<22} {:>10} {:>9}", "model", "batch", "method", "ms/step", "x plain");
    let mut all = Vec::new();
    for m in &a.models {
        for r in robustcnn::bench::methods(m, a.batch, input, a.iters, (device, precision), &a.methods)? {
            println!("{:<18} {:>5} {:<22} {:>10.1} {:>9.2}", r.model, r.batch, r.method, r.ms_per_step, r.relative);
            all.push(r);
        }
    }
    println!(
        "libtorch threads: {}; {}; TENET due every iteration, every sample positive",
        tch::get_num_threads(),
        robustcnn::allocator::setting()
    );
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&all)?)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// Trains `model` for one epoch on `dataset` in a scratch run directory and compares its throughput
/// with the pure training step on random data of the same shape.
fn epoch_throughput(model: &str, dataset: &str, a: &BenchArgs, device: tch::Device) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("robustcnn-bench-{}-{model}", std::process::id()));
    let mut sets = vec![
        format!("model.name=\"{model}\""),
        format!("data.dataset=\"{dataset}\""),
        format!("data.batch_size={}", a.batch),
        format!("train.device=\"{}\"", a.device),
        "train.epochs=1".to_string(),
        "data.val_fraction=0.0".to_string(),
    ];
    if let Some(d) = &a.data_dir {
        sets.push(format!("data.data_dir=\"{}\"", d.display()));
    }
    let cfg = Config::load(None, &sets)?;
    let opts = RunOptions {
        out: scratch.clone(),
        resume: false,
        interrupt: interrupt_flag(),
        stop_after: None,
        dist: None,
        progress: false,
    };
    let result = train::train(&cfg, &opts);
    let metrics = std::fs::read_to_string(scratch.join(train::METRICS_FILE)).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    let records: Vec<serde_json::Value> = metrics.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let find = |event: &str| {
        records.iter().find(|v| v["event"] == event).with_context(|| format!("the epoch run wrote no {event} record"))
    };
    let (start, epoch) = (find("start")?, find("epoch")?);
    let shape: Vec<i64> = start["input_shape"].as_array().into_iter().flatten().filter_map(|v| v.as_i64()).collect();
    let shape: [i64; 3] = shape.try_into().map_err(|_| anyhow::anyhow!("the start record has no input_shape"))?;
    // The pure step is timed over as many steps as the epoch took, so that both rates average
    // over windows of the same length on a machine whose speed drifts (BENCHMARKS.md).
    let steps = epoch["step"].as_u64().context("the epoch record has no step count")? as usize;
    let step = robustcnn::bench::train_step_rate(model, a.batch, shape, steps, (device, Precision::Fp32))?;
    let e2e = epoch["images_per_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "{model} one epoch of {dataset} ({} images, {}x{}x{}): {e2e:.1} img/s end to end, loader wait {:.2}%; \
         pure step over the same {steps} steps {step:.1} img/s; ratio {:.2}",
        start["train_samples"],
        shape[0],
        shape[1],
        shape[2],
        100.0 * epoch["loader_wait_fraction"].as_f64().unwrap_or(f64::NAN),
        e2e / step
    );
    Ok(())
}
