//! `robustcnn eval reid-attack RUN`: the queries of a re-ID run attacked in feature space (I-FGSM or
//! MI-FGSM pushing each query's feature from its clean one), robust Rank-1 and mAP against the
//! clean gallery (docs/reid.md §5).
use crate::commands::{print_stored, RunArgs};
use anyhow::{anyhow, bail, Result};
use clap::Args;
use robustcnn::attacks::{check_linf_budget, parse_budget};
use robustcnn::eval::retrieval_robustness::{attacked_retrieval, FeatureAttack, FeatureAttackSpec};
use robustcnn::eval::store::{self, Evaluation};

#[derive(Args)]
pub struct EvalReidAttackArgs {
    #[command(flatten)]
    pub run_args: RunArgs,
    /// i-fgsm or mi-fgsm.
    #[arg(long, default_value = "mi-fgsm")]
    pub attack: String,
    /// ℓ∞ budget in pixel units.
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

pub fn run(a: &EvalReidAttackArgs) -> Result<()> {
    let attack =
        FeatureAttack::parse(&a.attack).ok_or_else(|| anyhow!("--attack {}: expected i-fgsm or mi-fgsm", a.attack))?;
    let eps = parse_budget(&a.eps, "--eps")?;
    check_linf_budget(eps, "--eps", &a.eps)?;
    let step = parse_budget(&a.step, "--step")?;
    if step <= 0.0 || a.iters == 0 {
        bail!("--step {} --iters {}: the attack needs a positive step and at least one iteration", a.step, a.iters);
    }
    let o = a.run_args.open()?;
    let test = a.run_args.limited(&o.prepared.test, "test")?;
    if test.retrieval.is_none() {
        bail!("{}: not a re-identification run (eval attack attacks classifiers)", a.run_args.source().display());
    }
    let spec = FeatureAttackSpec { attack, eps, step, iters: a.iters, momentum: a.momentum, seed: a.seed };
    let r = attacked_retrieval(&o.prepared.net, &test, a.run_args.batch(), o.prepared.device, &spec)?;
    let settings = serde_json::json!({"attack": a.attack, "eps": a.eps, "step": a.step, "iters": a.iters, "momentum": a.momentum, "seed": a.seed});
    let protocol = store::with(a.run_args.subject(&o, "reid-attacks", "test", r.clean.queries)?, settings);
    let evaluation = Evaluation {
        kind: "reid-attacks",
        protocol,
        samples: r.clean.queries,
        files: vec![("reid_attacks.json", serde_json::to_string_pretty(&r)?)],
    };
    let stored = o.store.write(evaluation)?;
    println!(
        "{} ε={} ({} steps of {}): Rank-1 {:.2}% → {:.2}%, mAP {:.2}% → {:.2}%; query features' cosine to their clean ones {:.3}",
        a.attack,
        a.eps,
        a.iters,
        a.step,
        100.0 * r.clean.rank1,
        100.0 * r.attacked.rank1,
        100.0 * r.clean.map,
        100.0 * r.attacked.map,
        r.mean_similarity_to_clean
    );
    print_stored(&o, &stored);
    Ok(())
}
