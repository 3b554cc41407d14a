//! `robustcnn eval reid-attack RUN`: the queries of a re-ID run attacked in feature space (I-FGSM or
//! MI-FGSM pushing each query's feature from its clean one), robust Rank-1 and mAP against the
//! clean gallery (docs/reid.md §5).
use crate::commands::{print_stored, RunArgs};
use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use robustcnn::eval::reid_attack_report::feature_attack_specs;
use robustcnn::eval::retrieval_robustness::attacked_retrieval;
use robustcnn::eval::store;

#[derive(Args)]
pub struct EvalReidAttackArgs {
    #[command(flatten)]
    pub run_args: RunArgs,
    /// i-fgsm, mi-fgsm, or both comma-separated.
    #[arg(long, default_value = "mi-fgsm")]
    pub attack: String,
    /// ℓ∞ budgets in pixel units, comma-separated.
    #[arg(long, default_value = "5/255")]
    pub eps: String,
    /// Step size.
    #[arg(long, default_value = "1/255")]
    pub step: String,
    #[arg(long, default_value_t = 15)]
    pub iters: usize,
    /// MI-FGSM's decay of the accumulated gradient.
    #[arg(long, default_value_t = 1.0)]
    pub momentum: f64,
    /// Seed of the random start in the ball.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

pub fn run(a: &EvalReidAttackArgs) -> Result<()> {
    let (attacks, eps) = (list(&a.attack), list(&a.eps));
    let keys = ["--attack", "--eps", "--step"];
    let specs = feature_attack_specs(&attacks, &eps, &a.step, a.iters, a.momentum, a.seed, keys)?;
    if specs.is_empty() {
        bail!("--attack {:?} --eps {:?}: name at least one attack and one budget", a.attack, a.eps);
    }
    let o = a.run_args.open()?;
    let test = a.run_args.limited(&o.prepared.test, "test")?;
    if test.retrieval.is_none() {
        bail!("{}: not a re-identification run (eval attack attacks classifiers)", a.run_args.source().display());
    }
    let pb = ProgressBar::new(specs.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("feature attacks [{bar:30}] {pos}/{len}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut progress = |m: &str| {
        pb.set_message(m.to_string());
        pb.inc(1);
    };
    let r = attacked_retrieval(&o.prepared.net, &test, a.run_args.batch(), o.prepared.device, &specs, &mut progress);
    pb.finish_and_clear();
    let r = r?;
    let settings = serde_json::json!({"attacks": attacks, "eps": eps, "step": a.step, "iters": a.iters, "momentum": a.momentum, "seed": a.seed});
    let protocol = store::with(a.run_args.subject(&o, "reid-attacks", "test", r.queries)?, settings);
    let stored = o.store.write(r.evaluation(protocol))?;
    println!("clean: Rank-1 {:.2}%, mAP {:.2}% ({} queries)", 100.0 * r.clean.rank1, 100.0 * r.clean.map, r.queries);
    for x in &r.results {
        println!(
            "{} ε={} ({} steps of {}): Rank-1 {:.2}%, mAP {:.2}%; query features' cosine to their clean ones {:.3}",
            x.spec.attack.name(),
            x.eps_text,
            x.spec.iters,
            a.step,
            100.0 * x.attacked.rank1,
            100.0 * x.attacked.map,
            x.mean_similarity_to_clean
        );
    }
    print_stored(&o, &stored);
    Ok(())
}
