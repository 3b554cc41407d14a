//! `robustcnn eval attack RUN`: robust accuracy under each attack (FGSM to AutoAttack) per budget, the worst case,
//! the gradient-masking checks, per-sample outcomes and a plot (docs/methods.md §4.3).
use crate::commands::{print_stored, Opened, RunArgs};
use crate::robustbench_args::RobustBenchArgs;
use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use robustcnn::attacks::{
    check_l2_budget, check_linf_budget, parse_budget, registry, step_warnings, Attack, AttackRequest, Norm, Setting,
    ATTACKS,
};
use robustcnn::data::Dataset;
use robustcnn::eval::attack_report::AttackReport;
use robustcnn::eval::attacks::{AttackResult, AttackSet, LARGE_BUDGET_SAMPLES};
use robustcnn::eval::{robustbench, store};
use std::time::Instant;

/// `--attack`'s help: every attack of the registry with its parameters and defaults.
fn attack_help() -> String {
    let mut s = String::from(
        "Attacks, comma-separated; each NAME or NAME:KEY=VALUE:… (e.g. pgd:steps=50:alpha=eps/8). The attacks:",
    );
    for e in ATTACKS {
        let params: Vec<String> = e.params.iter().map(|p| format!("{}={}", p.key, p.default)).collect();
        let params = if params.is_empty() { String::new() } else { format!(" [{}]", params.join(", ")) };
        s += &format!("\n  {}: {}{params}", e.name, e.summary);
    }
    s
}

#[derive(Args)]
pub struct EvalAttackArgs {
    #[command(flatten)]
    pub run_args: RunArgs,
    #[arg(long, default_value = "fgsm,pgd", help = "Attacks, comma-separated (NAME or NAME:KEY=VALUE:…; see --help)", long_help = attack_help())]
    pub attack: String,
    /// Budgets in pixel units, comma-separated; fractions allowed [default: 1/255,2/255,4/255,8/255
    /// for linf, 0.25,0.5,1 for l2].
    #[arg(long, allow_hyphen_values = true)]
    pub eps: Option<String>,
    /// Threat model: linf or l2 (FGSM is ℓ∞ only).
    #[arg(long, default_value = "linf")]
    pub norm: String,
    /// PGD steps (pgd:steps) [default: 20].
    #[arg(long)]
    pub steps: Option<String>,
    /// PGD step size, e.g. 2/255 or eps/8 (pgd:alpha) [default: eps/4, which is 2/255 at ε = 8/255].
    #[arg(long, allow_hyphen_values = true)]
    pub alpha: Option<String>,
    /// PGD random restarts; the worst case per sample is kept (pgd:restarts) [default: 1].
    #[arg(long)]
    pub restarts: Option<String>,
    /// PGD loss: ce, cw (margin) or dlr (pgd:loss) [default: ce].
    #[arg(long)]
    pub loss: Option<String>,
    /// PGD target: none, random, least-likely, or a class index (pgd:target) [default: none].
    #[arg(long)]
    pub target: Option<String>,
    /// PGD without the random start: it starts at the clean image (pgd:random_start=false).
    #[arg(long)]
    pub no_random_start: bool,
    /// APGD iterations per run, for apgd-ce, apgd-dlr, apgd-t and apgd (AutoAttack uses 100) [default: 100].
    #[arg(long)]
    pub apgd_iters: Option<String>,
    /// AutoAttack version: standard, plus or rand (autoattack:version) [default: standard].
    #[arg(long = "version", value_name = "VERSION")]
    pub aa_version: Option<String>,
    /// Seed of the random starts and random targets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the large-budget check (PGD at ε = 0.5 should reach every point).
    #[arg(long)]
    pub no_sanity: bool,
    #[command(flatten)]
    pub robustbench: RobustBenchArgs,
}

/// What was asked, checked before the model is loaded.
struct Plan {
    attacks: Vec<AttackRequest>,
    budgets: Vec<(f64, String)>,
    norm: Norm,
}

fn plan(a: &EvalAttackArgs) -> Result<Plan> {
    let norm = Norm::parse(&a.norm)?;
    let attacks = registry::parse_list(&a.attack, "--attack")?;
    let default_eps = if norm == Norm::Linf { "1/255,2/255,4/255,8/255" } else { "0.25,0.5,1" };
    let text = a.eps.as_deref().unwrap_or(default_eps);
    let budgets =
        text.split(',').map(|s| Ok((parse_budget(s, "--eps")?, s.trim().to_string()))).collect::<Result<Vec<_>>>()?;
    robustcnn::attacks::check_distinct_budgets(&budgets, "--eps")?;
    if norm == Norm::Linf {
        for (eps, text) in &budgets {
            check_linf_budget(*eps, "--eps", text)?;
        }
    }
    if let Some(v) = &a.aa_version {
        if !attacks.iter().any(|r| r.entry.name == "autoattack") {
            bail!("--version {v}: only autoattack has versions; add --attack autoattack");
        }
    }
    check_flags_apply(a, &attacks)?;
    if let Some(t) = a.target.as_deref().filter(|t| *t != "none") {
        if attacks.iter().any(|r| r.entry.name != "pgd") {
            bail!("--target {t}: only pgd takes a target (apgd-t picks its own targets); run the others separately");
        }
    }
    Ok(Plan { attacks, budgets, norm })
}

/// Refuses a PGD or APGD option when no attack asked takes it: it would be ignored, while the
/// command line says it was used.
fn check_flags_apply(a: &EvalAttackArgs, attacks: &[AttackRequest]) -> Result<()> {
    let asked = attacks.iter().map(|r| r.text()).collect::<Vec<_>>().join(",");
    let has = |names: &[&str]| attacks.iter().any(|r| names.contains(&r.entry.name));
    let pgd = [
        ("--steps", a.steps.as_deref()),
        ("--alpha", a.alpha.as_deref()),
        ("--restarts", a.restarts.as_deref()),
        ("--loss", a.loss.as_deref()),
        ("--no-random-start", a.no_random_start.then_some("")),
    ];
    if let Some((flag, v)) = pgd.into_iter().find(|(_, v)| v.is_some()).filter(|_| !has(&["pgd"])) {
        let v = v.filter(|v| !v.is_empty()).map_or(String::new(), |v| format!(" {v}"));
        bail!("{flag}{v}: sets PGD's schedule, and --attack {asked} has no pgd; add pgd, or leave the option out");
    }
    let apgd = ["apgd-ce", "apgd-dlr", "apgd-t", "apgd"];
    if let Some(v) = a.apgd_iters.as_deref().filter(|_| !has(&apgd)) {
        bail!(
            "--apgd-iters {v}: sets the iterations of apgd-ce, apgd-dlr, apgd-t and apgd, and --attack {asked} has \
             none of them (autoattack keeps its own 100)"
        );
    }
    Ok(())
}

/// The options that set a parameter of `attack` (the PGD flags for pgd, --apgd-iters for the APGDs).
fn shared_for(a: &EvalAttackArgs, attack: &str) -> Vec<Setting> {
    let set = |key: &str, value: &Option<String>, origin: &str| {
        value.as_ref().map(|v| Setting {
            key: key.into(),
            value: v.clone(),
            origin: format!("{origin} {v}"),
            default: false,
        })
    };
    let settings = match attack {
        "pgd" => vec![
            set("steps", &a.steps, "--steps"),
            set("alpha", &a.alpha, "--alpha"),
            set("restarts", &a.restarts, "--restarts"),
            set("loss", &a.loss, "--loss"),
            set("target", &a.target, "--target"),
            set("random_start", &a.no_random_start.then(|| "false".to_string()), "--no-random-start"),
        ],
        "apgd-ce" | "apgd-dlr" | "apgd-t" | "apgd" => vec![set("iters", &a.apgd_iters, "--apgd-iters")],
        "autoattack" => vec![set("version", &a.aa_version, "--version")],
        _ => Vec::new(),
    };
    settings.into_iter().flatten().collect()
}

/// Every attack at every budget, built before any runs, so that a bad parameter fails at once;
/// PGD schedules that cannot work as meant are warned about.
fn build_all(a: &EvalAttackArgs, p: &Plan, classes: i64) -> Result<Vec<(Box<dyn Attack>, String)>> {
    let (mut out, mut warnings, mut labelled) = (Vec::new(), Vec::new(), Vec::new());
    for r in &p.attacks {
        let shared = shared_for(a, r.entry.name);
        for (i, (eps, text)) in p.budgets.iter().enumerate() {
            let spec = r.spec(*eps, p.norm, classes, &shared)?;
            let attack = (r.entry.build)(&spec)?;
            if i == 0 {
                labelled.push((r.text(), attack.label()));
            }
            out.push((attack, text.clone()));
            if r.entry.name == "pgd" && *eps > 0.0 {
                let (alpha, steps) = (spec.step("alpha")?, spec.count("steps", 1, "PGD needs at least 1 step")?);
                warnings.extend(step_warnings(*eps, text, alpha, steps));
            }
        }
    }
    registry::check_distinct_labels(&labelled, "--attack")?;
    // Only once everything built: a refused request stays one line.
    for w in warnings {
        eprintln!("warning: PGD: {w}");
    }
    Ok(out)
}

pub fn run(a: &EvalAttackArgs) -> Result<()> {
    let p = plan(a)?;
    let robustbench = a.robustbench.wanted()?;
    if robustbench {
        robustbench::check_attack_plan(p.attacks.iter().any(|r| r.entry.name == "autoattack"), p.budgets.len())?;
    }
    let o = a.run_args.open()?;
    a.robustbench.check_dataset(&o)?;
    let (prepared, label) = (&o.prepared, o.label.clone());
    let test = a.run_args.limited(&prepared.test, "test")?;
    robustcnn::eval::retrieval::refuse_for_reid(&test, "eval attack")?;
    if test.is_multi_label() {
        return multilabel(a, &p, &o, &test, robustbench);
    }
    if p.norm == Norm::L2 {
        let dims = test.channels * test.height * test.width;
        for (eps, text) in &p.budgets {
            check_l2_budget(*eps, "--eps", text, dims)?;
        }
    }
    let classes = test.num_classes() as i64;
    let attacks = build_all(a, &p, classes)?;
    let set =
        AttackSet { net: &prepared.net, data: &test, batch: a.run_args.batch(), device: prepared.device, seed: a.seed };
    let sanity_n = if a.no_sanity { 0 } else { test.len().min(LARGE_BUDGET_SAMPLES) };
    let pb = if robustcnn::dist::is_main() {
        ProgressBar::new((attacks.len() * test.len() + sanity_n) as u64)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("attacks [{bar:30}] {pos}/{len} images  {msg}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let clean = set.clean_predictions()?;
    let mut results = Vec::new();
    for (attack, text) in &attacks {
        pb.set_message(format!("{} ε={text}", attack.label()));
        results.push(set.run(attack.as_ref(), text, &mut |n| pb.inc(n as u64))?);
    }
    let check = if a.no_sanity {
        None
    } else {
        pb.set_message("large-budget check");
        Some(set.large_budget_check(p.norm, sanity_n, &mut |n| pb.inc(n as u64))?)
    };
    pb.finish_and_clear();
    if !robustcnn::dist::is_main() {
        return Ok(());
    }
    let report = AttackReport::new(label, a.seed, test.labels.clone(), clean, results, check);
    let settings = settings(a, &p)?;
    let protocol = store::with(a.run_args.subject(&o, "attacks", "test", test.len())?, settings);
    let stored = o.store.write(report.evaluation(protocol))?;
    print_report(&report);
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    print_stored(&o, &stored);
    if robustbench {
        let name = a.robustbench.entry_name(&o);
        let cfg = &o.prepared.cfg;
        let (threat, entry) = robustbench::attack_entry(&report, &name, &cfg.data.dataset, &cfg.model.name)?;
        a.robustbench.write(&o, &threat, &[(format!("{name}.json"), serde_json::to_string_pretty(&entry)?)])?;
    }
    Ok(())
}

/// A multi-label run: FGSM and PGD with the multi-label loss, robust mAP (docs/multilabel.md §4).
fn multilabel(a: &EvalAttackArgs, p: &Plan, o: &Opened, test: &Dataset, robustbench: bool) -> Result<()> {
    use crate::eval_attack_multilabel as ml;
    let names = p.attacks.iter().map(|r| r.entry.name).collect();
    let (loss, target, restarts) = (a.loss.as_deref(), a.target.as_deref(), a.restarts.as_deref());
    ml::check(&ml::Request { attacks: names, loss, target, restarts, robustbench })?;
    let classes = test.num_classes() as i64;
    let attacks = build_all(a, p, classes)?;
    let set = AttackSet {
        net: &o.prepared.net,
        data: test,
        batch: a.run_args.batch(),
        device: o.prepared.device,
        seed: a.seed,
    };
    let protocol = store::with(a.run_args.subject(o, "attacks", "test", test.len())?, settings(a, p)?);
    ml::run(o, &set, &attacks, !a.no_sanity, protocol)
}

/// What defines this attack evaluation, for its results' protocol: each attack with every
/// parameter's value, the norm, the budgets, the seed and the large-budget check.
fn settings(a: &EvalAttackArgs, p: &Plan) -> Result<serde_json::Value> {
    let attacks =
        p.attacks.iter().map(|r| Ok(r.describe(p.norm, &shared_for(a, r.entry.name))?)).collect::<Result<Vec<_>>>()?;
    Ok(serde_json::json!({
        "attacks": attacks,
        "norm": a.norm,
        "eps": p.budgets.iter().map(|b| b.1.clone()).collect::<Vec<_>>(),
        "seed": a.seed,
        "large_budget_check": !a.no_sanity,
    }))
}

/// One table row per attack: `cell` of its result at each budget, "-" where it did not run.
fn print_rows(r: &AttackReport, name_width: usize, cell: impl Fn(&AttackResult) -> String) {
    for name in r.attack_names() {
        let cells: Vec<String> = r
            .worst_case
            .iter()
            .map(|c| r.results.iter().find(|x| x.attack == name && x.eps == c.eps).map_or(format!("{:>9}", "-"), &cell))
            .collect();
        println!("{name:<name_width$} {}", cells.join(" "));
    }
}

/// Robust accuracy per attack (rows) and budget (columns), the worst case, the speed of each attack,
/// AutoAttack's attacks in turn, and the warnings.
fn print_report(r: &AttackReport) {
    let budgets: Vec<&str> = r.worst_case.iter().map(|c| c.eps_text.as_str()).collect();
    let head: Vec<String> = budgets.iter().map(|b| format!("{:>9}", format!("ε={b}"))).collect();
    let width = r.attack_names().iter().map(|n| n.chars().count()).max().unwrap_or(0).max(22);
    println!("{:<width$} {}", "attack", head.join(" "));
    print_rows(r, width, |x| format!("{:>8.2}%", 100.0 * x.robust_accuracy));
    if r.attack_names().len() > 1 {
        let cells: Vec<String> = r.worst_case.iter().map(|c| format!("{:>8.2}%", 100.0 * c.robust_accuracy)).collect();
        println!("{:<width$} {}", "worst case", cells.join(" "));
    }
    println!("{:<width$} {}", "images/s", head.join(" "));
    print_rows(r, width, |x| format!("{:>9.1}", x.images_per_s));
    for res in r.results.iter().filter(|x| x.target_success.is_some()) {
        println!(
            "{} ε={}: target reached on {:.2}%",
            res.attack,
            res.eps_text,
            100.0 * res.target_success.unwrap_or(0.0)
        );
    }
    for res in r.results.iter().filter(|x| x.stages.is_some()) {
        let steps: Vec<String> = res
            .stages
            .iter()
            .flatten()
            .map(|s| {
                format!(
                    "{} broke {} → {:.2}% ({:.0} s)",
                    s.attack,
                    s.broken,
                    100.0 * s.robust_accuracy_after,
                    s.seconds
                )
            })
            .collect();
        println!("{} ε={}: {}", res.attack, res.eps_text, steps.join(", "));
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
