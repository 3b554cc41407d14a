//! `robustcnn eval attack RUN`: robust accuracy under FGSM, PGD and APGD per budget, the worst case,
//! the gradient-masking checks, per-sample outcomes and a plot (METHODS.md §4.3).
use crate::commands::{print_stored, RunArgs};
use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use robustcnn::attacks::{
    by_name, check_l2_budget, check_linf_budget, parse_budget, step_warnings, Attack, LossKind, Norm, Pgd, Target,
    NAMES,
};
use robustcnn::eval::attack_report::AttackReport;
use robustcnn::eval::attacks::{AttackSet, LARGE_BUDGET_SAMPLES};
use robustcnn::eval::store;
use std::time::Instant;

/// The attacks `--attack` accepts.
pub const ATTACK_NAMES: &str = "fgsm, pgd, apgd-ce, apgd-t, apgd (= APGD-CE + APGD-T)";

#[derive(Args)]
pub struct EvalAttackArgs {
    #[command(flatten)]
    pub run_args: RunArgs,
    /// Attacks, comma-separated: fgsm, pgd, apgd-ce, apgd-t, apgd (APGD-CE then APGD-T on the survivors).
    #[arg(long, default_value = "fgsm,pgd")]
    pub attack: String,
    /// Budgets in pixel units, comma-separated; fractions allowed [default: 1/255,2/255,4/255,8/255
    /// for linf, 0.25,0.5,1 for l2].
    #[arg(long, allow_hyphen_values = true)]
    pub eps: Option<String>,
    /// Threat model: linf or l2 (FGSM is ℓ∞ only).
    #[arg(long, default_value = "linf")]
    pub norm: String,
    /// PGD steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// PGD step size, e.g. 2/255 [default: ε/4, which is 2/255 at ε = 8/255].
    #[arg(long, allow_hyphen_values = true)]
    pub alpha: Option<String>,
    /// PGD random restarts; the worst case per sample is kept.
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// PGD loss: ce, cw (margin) or dlr.
    #[arg(long, default_value = "ce")]
    pub loss: String,
    /// PGD target: none, random, least-likely, or a class index.
    #[arg(long, default_value = "none")]
    pub target: String,
    /// PGD without the random start (starts at the clean image).
    #[arg(long)]
    pub no_random_start: bool,
    /// APGD iterations per run (AutoAttack uses 100).
    #[arg(long, default_value_t = 100)]
    pub apgd_iters: usize,
    /// Seed of the random starts and random targets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the large-budget check (PGD at ε = 0.5 should reach every point).
    #[arg(long)]
    pub no_sanity: bool,
}

/// What was asked, checked before the model is loaded.
struct Plan {
    attacks: Vec<String>,
    budgets: Vec<(f64, String)>,
    norm: Norm,
    alpha: Option<f64>,
    loss: LossKind,
}

fn plan(a: &EvalAttackArgs) -> Result<Plan> {
    let norm = Norm::parse(&a.norm)?;
    let loss = LossKind::parse(&a.loss)?;
    let attacks: Vec<String> = a.attack.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    if attacks.is_empty() {
        bail!("--attack: name at least one attack ({ATTACK_NAMES})");
    }
    for name in &attacks {
        if !NAMES.contains(&name.as_str()) {
            bail!("--attack {name}: unknown attack (attacks: {ATTACK_NAMES})");
        }
        if name == "fgsm" && norm == Norm::L2 {
            bail!("--attack fgsm: FGSM is an ℓ∞ attack; for ℓ2 use pgd --steps 1 --no-random-start");
        }
    }
    let default_eps = if norm == Norm::Linf { "1/255,2/255,4/255,8/255" } else { "0.25,0.5,1" };
    let text = a.eps.as_deref().unwrap_or(default_eps);
    let budgets =
        text.split(',').map(|s| Ok((parse_budget(s, "--eps")?, s.trim().to_string()))).collect::<Result<Vec<_>>>()?;
    if norm == Norm::Linf {
        for (eps, text) in &budgets {
            check_linf_budget(*eps, "--eps", text)?;
        }
    }
    if a.steps == 0 {
        bail!("--steps 0: PGD needs at least 1 step");
    }
    if a.apgd_iters == 0 {
        bail!("--apgd-iters 0: APGD needs at least 1 iteration");
    }
    if a.restarts == 0 {
        bail!("--restarts 0: at least 1 run is needed");
    }
    let alpha = a.alpha.as_deref().map(|s| parse_budget(s, "--alpha")).transpose()?;
    if alpha == Some(0.0) {
        bail!("--alpha 0: the step size must be positive");
    }
    if a.target != "none" && attacks.iter().any(|n| n != "pgd") {
        bail!(
            "--target {}: only pgd takes a target (apgd-t picks its own targets); run the others separately",
            a.target
        );
    }
    Ok(Plan { attacks, budgets, norm, alpha, loss })
}

fn parse_target(s: &str, classes: i64) -> Result<Target> {
    Ok(match s {
        "none" => Target::Untargeted,
        "random" => Target::Random,
        "least-likely" => Target::LeastLikely,
        other => match other.parse::<i64>() {
            Ok(c) if (0..classes).contains(&c) => Target::Class(c),
            Ok(c) => bail!("--target {c}: class out of range (the dataset has {classes} classes, 0–{})", classes - 1),
            Err(_) => bail!("--target {other}: expected none, random, least-likely or a class index"),
        },
    })
}

/// Builds one attack by name (checked by [`plan`]) at budget `eps`.
fn build(name: &str, eps: f64, p: &Plan, a: &EvalAttackArgs, target: Target, classes: i64) -> Result<Box<dyn Attack>> {
    let pgd = Pgd {
        eps,
        alpha: p.alpha.unwrap_or(eps / 4.0),
        steps: a.steps,
        norm: p.norm,
        random_start: !a.no_random_start,
        restarts: a.restarts,
        loss: p.loss,
        target,
        num_classes: classes,
        train_mode: false,
    };
    by_name(name, pgd, a.apgd_iters).ok_or_else(|| anyhow::anyhow!("--attack {name}: unknown attack"))
}

pub fn run(a: &EvalAttackArgs) -> Result<()> {
    let p = plan(a)?;
    let o = a.run_args.open()?;
    let (prepared, label) = (&o.prepared, o.label.clone());
    let test = a.run_args.limited(&prepared.test, "test")?;
    if p.norm == Norm::L2 {
        let dims = test.channels * test.height * test.width;
        for (eps, text) in &p.budgets {
            check_l2_budget(*eps, "--eps", text, dims)?;
        }
    }
    let classes = test.num_classes() as i64;
    let target = parse_target(&a.target, classes)?;
    let targeted_dlr = p.attacks.iter().any(|n| n == "apgd-t" || n == "apgd")
        || (p.loss == LossKind::Dlr && target != Target::Untargeted && p.attacks.iter().any(|n| n == "pgd"));
    let needs_dlr = targeted_dlr || (p.loss == LossKind::Dlr && p.attacks.iter().any(|n| n == "pgd"));
    let min_classes = if targeted_dlr { 4 } else { 3 };
    if needs_dlr && classes < min_classes {
        bail!("the DLR loss needs at least {min_classes} classes; this dataset has {classes}");
    }
    if p.attacks.iter().any(|n| n == "pgd") {
        for (eps, text) in p.budgets.iter().filter(|b| b.0 > 0.0) {
            for w in step_warnings(*eps, text, p.alpha.unwrap_or(eps / 4.0), a.steps) {
                eprintln!("warning: PGD: {w}");
            }
        }
    }
    let set =
        AttackSet { net: &prepared.net, data: &test, batch: a.run_args.batch(), device: prepared.device, seed: a.seed };
    let jobs = p.attacks.len() * p.budgets.len();
    let sanity_n = if a.no_sanity { 0 } else { test.len().min(LARGE_BUDGET_SAMPLES) };
    let pb = ProgressBar::new((jobs * test.len() + sanity_n) as u64);
    pb.set_style(
        ProgressStyle::with_template("attacks [{bar:30}] {pos}/{len} images  {msg}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let clean = set.clean_predictions();
    let mut results = Vec::new();
    for name in &p.attacks {
        for (eps, text) in &p.budgets {
            let attack = build(name, *eps, &p, a, target, classes)?;
            pb.set_message(format!("{} ε={text}", attack.label()));
            let r = set.run(attack.as_ref(), text, &mut |n| pb.inc(n as u64))?;
            results.push(r);
        }
    }
    let check = if a.no_sanity {
        None
    } else {
        pb.set_message("large-budget check");
        Some(set.large_budget_check(p.norm, sanity_n, &mut |n| pb.inc(n as u64))?)
    };
    pb.finish_and_clear();
    let report = AttackReport::new(label, a.seed, test.labels.clone(), clean, results, check);
    let protocol = store::with(a.run_args.subject(&o, "attacks", "test", test.len())?, settings(a, &p));
    let stored = o.store.write(report.evaluation(protocol))?;
    print_report(&report);
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    print_stored(&o, &stored);
    Ok(())
}

/// What defines this attack evaluation, for its results' protocol.
fn settings(a: &EvalAttackArgs, p: &Plan) -> serde_json::Value {
    serde_json::json!({
        "attacks": p.attacks,
        "norm": a.norm,
        "eps": p.budgets.iter().map(|b| b.1.clone()).collect::<Vec<_>>(),
        "pgd_steps": a.steps,
        "pgd_alpha": a.alpha.clone().unwrap_or_else(|| "ε/4".into()),
        "pgd_restarts": a.restarts,
        "pgd_loss": a.loss,
        "pgd_target": a.target,
        "pgd_random_start": !a.no_random_start,
        "apgd_iters": a.apgd_iters,
        "seed": a.seed,
        "large_budget_check": !a.no_sanity,
    })
}

/// Robust accuracy per attack (rows) and budget (columns), the worst case, and the warnings.
fn print_report(r: &AttackReport) {
    let budgets: Vec<&str> = r.worst_case.iter().map(|c| c.eps_text.as_str()).collect();
    let head: Vec<String> = budgets.iter().map(|b| format!("{:>9}", format!("ε={b}"))).collect();
    println!("{:<22} {}", "attack", head.join(" "));
    let names = r.attack_names();
    for &name in &names {
        let cells: Vec<String> = r
            .worst_case
            .iter()
            .map(|c| {
                r.results
                    .iter()
                    .find(|x| x.attack == name && x.eps == c.eps)
                    .map_or(format!("{:>9}", "-"), |x| format!("{:>8.2}%", 100.0 * x.robust_accuracy))
            })
            .collect();
        println!("{name:<22} {}", cells.join(" "));
    }
    if names.len() > 1 {
        let cells: Vec<String> = r.worst_case.iter().map(|c| format!("{:>8.2}%", 100.0 * c.robust_accuracy)).collect();
        println!("{:<22} {}", "worst case", cells.join(" "));
    }
    for res in r.results.iter().filter(|x| x.target_success.is_some()) {
        println!(
            "{} ε={}: target reached on {:.2}%",
            res.attack,
            res.eps_text,
            100.0 * res.target_success.unwrap_or(0.0)
        );
    }
    println!("clean accuracy {:.2}% on {} images (weights: {})", 100.0 * r.clean_accuracy, r.samples, r.weights);
    if let Some(c) = &r.large_budget_check {
        println!(
            "large-budget check: {} at ε={} leaves {:.2}% (chance {:.2}%)",
            c.attack,
            c.eps,
            100.0 * c.robust_accuracy,
            100.0 * c.chance
        );
    }
    if r.warnings.is_empty() {
        println!("gradient-masking checks: none triggered");
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
}
