//! `robustcnn eval attack` on a multi-label run: FGSM and PGD with the multi-label loss, robust mAP
//! per attack and budget, and the large-budget check against a chance ranking (docs/multilabel.md §4).
use crate::commands::{print_stored, Opened};
use crate::eval_attack_cmd::{build_all, settings, EvalAttackArgs, Plan};
use anyhow::{bail, Result};
use robustcnn::data::Dataset;
use robustcnn::eval::attacks::{AttackSet, LARGE_BUDGET_SAMPLES};
use robustcnn::eval::multilabel_attacks::MultiLabelAttackReport;
use robustcnn::eval::store;

/// Refuses what has no multi-label form: attacks other than FGSM and PGD, a loss other than the
/// cross-entropy, targets, restarts (they compare predicted classes) and RobustBench entries.
fn check(a: &EvalAttackArgs, p: &Plan, robustbench: bool) -> Result<()> {
    let why = "a multi-label task is attacked by fgsm and pgd with the summed per-class binary cross-entropy";
    if let Some(r) = p.attacks.iter().find(|r| !matches!(r.entry.name, "fgsm" | "pgd")) {
        bail!("--attack {}: {why}", r.entry.name);
    }
    if let Some(l) = a.loss.as_deref().filter(|l| *l != "ce") {
        bail!("--loss {l}: {why}");
    }
    if let Some(t) = a.target.as_deref().filter(|t| *t != "none") {
        bail!("--target {t}: {why}, untargeted");
    }
    if let Some(r) = a.restarts.as_deref().filter(|r| *r != "1") {
        bail!("--restarts {r}: {why}, one restart (restarts are compared by predicted class)");
    }
    if robustbench {
        bail!("--robustbench: RobustBench's leaderboards are single-label");
    }
    Ok(())
}

pub fn run(a: &EvalAttackArgs, p: &Plan, o: &Opened, test: &Dataset, robustbench: bool) -> Result<()> {
    check(a, p, robustbench)?;
    let attacks = build_all(a, p, test.num_classes() as i64)?;
    let set = AttackSet {
        net: &o.prepared.net,
        data: test,
        batch: a.run_args.batch(),
        device: o.prepared.device,
        seed: a.seed,
    };
    let clean = set.clean_map()?;
    let mut results = Vec::new();
    for (attack, text) in &attacks {
        results.push(set.run_multilabel(attack.as_ref(), text)?);
    }
    let check = if a.no_sanity { None } else { Some(set.large_budget_map(test.len().min(LARGE_BUDGET_SAMPLES))?) };
    if !robustcnn::dist::is_main() {
        return Ok(());
    }
    let report = MultiLabelAttackReport::new(o.label.clone(), a.seed, clean, results, check, test.len());
    let protocol =
        store::with(a.run_args.subject(o, "attacks", "test", test.len())?, settings(a, p, test.num_classes() as i64)?);
    let stored = o.store.write(report.evaluation(protocol))?;
    println!("clean mAP {:.2}%", 100.0 * report.clean_accuracy);
    for r in &report.results {
        println!("{:<22} ε={:<8} robust mAP {:>6.2}%", r.attack, r.eps_text, 100.0 * r.robust_accuracy);
    }
    if let Some(c) = &report.large_budget_check {
        println!(
            "large-budget check: {} at ε=0.5: mAP {:.2}% (random ranking {:.2}%)",
            c.attack,
            100.0 * c.robust_map,
            100.0 * c.chance
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    print_stored(o, &stored);
    Ok(())
}
