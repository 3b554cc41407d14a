//! `robustcnn eval corruptions RUN`: accuracy under the common corruptions, on the fly or from a
//! published -C directory, with CE and mCE (docs/methods.md §4.1.4).
use crate::commands::{print_stored, Opened, RunArgs};
use crate::corrupt_manifest;
use crate::engine_args::{corruption_list, severity_list, EngineArgs};
use crate::robustbench_args::RobustBenchArgs;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use robustcnn::eval::clean::evaluate;
use robustcnn::eval::corruptions::{self, CorruptionReport, Evaluator, OnTheFly};
use robustcnn::eval::reference_run::read_reference;
use robustcnn::eval::{robustbench, store};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct EvalCorruptionsArgs {
    #[command(flatten)]
    pub run_args: RunArgs,
    /// Read the corrupted test set from this directory instead of generating it in memory: the
    /// CIFAR-10-C layout (<corruption>.npy and labels.npy, e.g. the released CIFAR-10-C) or the
    /// ImageNet-C one (<corruption>/<severity>/<class>/<image>).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Corruptions and groups (common = the 15 of mCE, validation, all, noise, blur, weather, digital)
    /// [default: common; with --from a set `robustcnn corrupt` wrote, the corruptions its manifest.json lists].
    #[arg(long)]
    pub corruptions: Option<String>,
    /// Severities: numbers and ranges in 1–5, e.g. 3 or 1,3 or 1-5.
    #[arg(long, default_value = "1-5")]
    pub severities: String,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Also normalise mCE and relative mCE by this run's corruption results (e.g. the baseline's),
    /// as the ImageNet-C protocol does with AlexNet's.
    #[arg(long, value_name = "RUN")]
    pub reference: Option<PathBuf>,
    #[command(flatten)]
    pub robustbench: RobustBenchArgs,
}

pub fn run(a: &EvalCorruptionsArgs) -> Result<()> {
    let robustbench = a.robustbench.wanted()?;
    let names = match (&a.corruptions, &a.from) {
        (Some(list), _) => corruption_list(list, "--corruptions")?,
        (None, Some(dir)) => crate::corrupt_manifest::listed(dir)?.unwrap_or(corruption_list("common", "")?),
        (None, None) => corruption_list("common", "")?,
    };
    let severities = severity_list(&a.severities)?;
    if let Some(dir) = a.from.as_ref().filter(|d| !d.is_dir()) {
        bail!(
            "--from {}: not a directory (expected a -C directory: <corruption>.npy and labels.npy, or \
             <corruption>/<severity>/<class>/<image>)",
            dir.display()
        );
    }
    if let (Some(dir), Some(option)) = (&a.from, a.engine.given_drawing_option()) {
        let made =
            corrupt_manifest::engine(dir).map_or(String::new(), |e| format!(" ({e}, as its manifest.json says)"));
        bail!(
            "{option}: says how corruptions are drawn on the fly; --from {} holds images already made{made}",
            dir.display()
        );
    }
    let corruptor = a.engine.corruptor()?;
    if a.from.as_ref().is_some_and(|d| corruptions::is_folder_layout(d)) && a.run_args.limit.is_some() {
        bail!("--limit: applies to generated or .npy sets; an ImageNet-C folder is evaluated whole");
    }
    let o = a.run_args.open()?;
    a.robustbench.check_dataset(&o)?;
    let (p, label) = (&o.prepared, o.label.clone());
    let test = a.run_args.limited(&p.test, "test")?;
    if test.retrieval.is_some() && (a.from.is_some() || a.reference.is_some()) {
        bail!("--from/--reference: a re-identification task is evaluated on queries corrupted on the fly");
    }
    if test.is_multi_label() && (a.from.is_some() || a.reference.is_some()) {
        bail!(
            "--from/--reference: a multi-label task ({}) is evaluated on corruptions made on the fly, as mAP; \
             -C sets and reference runs hold single-label accuracies",
            p.cfg.data.dataset
        );
    }
    if a.from.is_none() {
        corruptor.preset_for(test.height, test.width).map_err(|e| anyhow!("--preset: {e}"))?;
    }
    // A .npy set of the first N test images (corrupt --limit N) is compared with their clean accuracy.
    let test = match &a.from {
        Some(dir) if !corruptions::is_folder_layout(dir) => {
            let n = corruptions::npy_set_images(dir)?;
            if n < test.len() {
                test.select(&(0..n).collect::<Vec<_>>())
            } else {
                test
            }
        }
        _ => test,
    };
    let reference = match &a.reference {
        Some(run) => {
            let wanted = a.reference_setting(&names, &severities, test.len(), &o);
            Some(read_reference(run, &p.cfg.data.dataset, &wanted)?)
        }
        None => None,
    };
    let batch = a.run_args.batch();
    let clean = evaluate(&p.net, &test, batch, p.device)?.score();
    let model = Evaluator { net: &p.net, batch, device: p.device };
    let pb = if robustcnn::dist::is_main() {
        ProgressBar::new((names.len() * severities.len()) as u64)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("corruptions [{bar:30}] {pos}/{len} sets, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut progress = |done: usize, _total: usize| pb.set_position(done as u64);
    let started = Instant::now();
    let (cells, used, source) = match &a.from {
        Some(dir) if corruptions::is_folder_layout(dir) => {
            let cells = corruptions::evaluate_from_folders(model, &test, dir, &names, &severities, &mut progress)?;
            (cells, severities.clone(), format!("from {} (image folders)", dir.display()))
        }
        Some(dir) => {
            let (cells, used) = corruptions::evaluate_from_dir(
                model,
                &test,
                dir,
                &names,
                &severities,
                a.run_args.limit,
                &mut progress,
            )?;
            let made = corrupt_manifest::engine(dir).map_or(String::new(), |e| format!(" ({e})"));
            (cells, used, format!("from {}{made}", dir.display()))
        }
        None => {
            let plan = OnTheFly {
                corruptor: &corruptor,
                corruptions: &names,
                severities: &severities,
                seed: a.engine.seed(),
                workers: a.engine.workers,
            };
            let cells = if test.retrieval.is_some() {
                robustcnn::eval::retrieval_robustness::corrupted_queries(model, &test, &plan, &mut progress)?
            } else {
                corruptions::evaluate_on_the_fly(model, &test, &plan, &mut progress)?
            };
            (
                cells,
                severities.clone(),
                format!("on the fly: {}", a.engine.describe(&corruptor, (test.height, test.width))),
            )
        }
    };
    pb.finish_and_clear();
    let imagenet = (test.height, test.width) == (224, 224) && test.num_classes() == 1000;
    let mut report = corruptions::summarize(source, label, clean, &used, cells, imagenet);
    if test.is_multi_label() {
        report = report.into_map();
    }
    if test.retrieval.is_some() {
        report = report.into_rank1();
    }
    if let (Some(r), Some(dir)) = (&reference, &a.reference) {
        report.normalize_by(r, &dir.display().to_string());
    }
    let settings = a.settings(&names, &used);
    if !robustcnn::dist::is_main() {
        return Ok(());
    }
    let protocol = store::with(a.run_args.subject(&o, "corruptions", "test", report.samples)?, settings);
    let stored = o.store.write(report.evaluation(protocol))?;
    print_report(&report);
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    print_stored(&o, &stored);
    if robustbench {
        let name = a.robustbench.entry_name(&o);
        let cfg = &o.prepared.cfg;
        let entry = robustbench::corruption_entry(&report, &name, &cfg.data.dataset, &cfg.model.name);
        let files = [
            (format!("{name}.json"), serde_json::to_string_pretty(&entry)?),
            ("unaggregated_results.csv".to_string(), robustbench::unaggregated_csv(&report, &name)),
        ];
        a.robustbench.write(&o, "corruptions", &files)?;
    }
    Ok(())
}

impl EvalCorruptionsArgs {
    /// The protocol keys these options set, for `names` at severities `used`.
    fn settings(&self, names: &[&str], used: &[u8]) -> serde_json::Value {
        let drawn = match &self.from {
            // Images made already: the set is the source (its manifest, if any, says how they were drawn).
            Some(d) => serde_json::json!({"source": d.display().to_string()}),
            None => serde_json::json!({
                "source": "on the fly",
                "preset": self.engine.preset(),
                "frost": self.engine.frost_label(),
                "seed": self.engine.seed(),
            }),
        };
        let chosen = serde_json::json!({
            "corruptions": names,
            "severities": used,
            "reference": self.reference.as_ref().map(|r| r.display().to_string()),
        });
        store::with(chosen, drawn)
    }

    /// The setting a `--reference` run's evaluation must share with this one (`images` evaluated).
    fn reference_setting(&self, names: &[&str], severities: &[u8], images: usize, o: &Opened) -> serde_json::Value {
        let limit = self.run_args.effective_limit(o, "test");
        let split = serde_json::json!({"split": "test", "images": images, "limit": limit});
        store::with_precision(store::with(self.settings(names, severities), split), o.precision)
    }
}

/// The table a user reads: accuracy per corruption and severity, pooled accuracy, and the summaries.
fn print_report(r: &CorruptionReport) {
    let sev: Vec<String> = r.severities.iter().map(|s| format!("{:>6}", format!("s{s}"))).collect();
    println!("{:<18} {:<8} {} {:>7}", "corruption", "family", sev.join(" "), "mean");
    for p in &r.per_corruption {
        let cells: Vec<String> = r
            .cells
            .iter()
            .filter(|c| c.corruption == p.corruption)
            .map(|c| format!("{:>6.2}", 100.0 * c.accuracy))
            .collect();
        println!("{:<18} {:<8} {} {:>7.2}", p.corruption, p.family, cells.join(" "), 100.0 * p.accuracy);
    }
    println!(
        "clean accuracy {:.2}%, mean corrupted accuracy {:.2}% ({})",
        100.0 * r.clean_accuracy,
        100.0 * r.mean_accuracy,
        r.source
    );
    let families: Vec<String> = r.per_family.iter().map(|(f, a)| format!("{f} {:.2}%", 100.0 * a)).collect();
    println!("per family: {}", families.join(", "));
    match r.mce_unnormalized {
        Some(m) => println!("mCE (CIFAR protocol, unnormalised mean error over the 15): {m:.2}%"),
        None => println!("mCE: needs all 15 benchmark corruptions (--corruptions common)"),
    }
    if let (Some(m), Some(rel)) = (r.mce_alexnet, r.relative_mce_alexnet) {
        println!("mCE normalised by AlexNet (ImageNet protocol): {m:.1}%, relative mCE {rel:.1}%");
    }
    if let (Some(n), Some(run)) = (&r.reference, &r.reference_run) {
        let rel = n.relative_mce.map_or("undefined".to_string(), |v| format!("{v:.1}%"));
        let left = if n.relative_left_out.is_empty() {
            String::new()
        } else {
            format!(" (left out, where {run} loses nothing: {})", n.relative_left_out.join(", "))
        };
        let mce = n.mce.map_or(format!("undefined ({run} makes no error on some corruption)"), |v| format!("{v:.1}%"));
        println!("mCE normalised by {run}: {mce}, relative mCE {rel}{left}");
    }
}
