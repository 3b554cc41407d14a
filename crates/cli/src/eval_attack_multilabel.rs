//! `robustcnn eval attack` on a multi-label run: FGSM and PGD with the multi-label loss, robust mAP
//! per attack and budget, and the large-budget check against a chance ranking (docs/multilabel.md §4).
use crate::commands::{print_stored, Opened};
use anyhow::{bail, Result};
use robustcnn::attacks::Attack;
use robustcnn::eval::attacks::{AttackSet, LARGE_BUDGET_SAMPLES};
use robustcnn::eval::multilabel_attacks::MultiLabelAttackReport;

/// What was asked of a multi-label attack evaluation, as the options gave it.
pub struct Request<'a> {
    pub attacks: Vec<&'a str>,
    pub loss: Option<&'a str>,
    pub target: Option<&'a str>,
    pub restarts: Option<&'a str>,
    pub robustbench: bool,
}

/// Refuses what has no multi-label form: attacks other than FGSM and PGD, a loss other than the
/// cross-entropy, targets, restarts (they compare predicted classes) and RobustBench entries.
pub fn check(r: &Request) -> Result<()> {
    let why = "a multi-label task is attacked by fgsm and pgd with the summed per-class binary cross-entropy";
    if let Some(name) = r.attacks.iter().find(|n| !matches!(**n, "fgsm" | "pgd")) {
        bail!("--attack {name}: {why}");
    }
    if let Some(l) = r.loss.filter(|l| *l != "ce") {
        bail!("--loss {l}: {why}");
    }
    if let Some(t) = r.target.filter(|t| *t != "none") {
        bail!("--target {t}: {why}, untargeted");
    }
    if let Some(n) = r.restarts.filter(|n| *n != "1") {
        bail!("--restarts {n}: {why}, one restart (restarts are compared by predicted class)");
    }
    if r.robustbench {
        bail!("--robustbench: RobustBench's leaderboards are single-label");
    }
    Ok(())
}

/// Runs the built `attacks` on `set` and keeps the report under `protocol`; `sanity` runs the
/// large-budget check.
pub fn run(
    o: &Opened,
    set: &AttackSet,
    attacks: &[(Box<dyn Attack>, String)],
    sanity: bool,
    protocol: serde_json::Value,
) -> Result<()> {
    let clean = set.clean_map()?;
    let mut results = Vec::new();
    for (attack, text) in attacks {
        results.push(set.run_multilabel(attack.as_ref(), text)?);
    }
    let n = set.data.len();
    let check = if sanity { Some(set.large_budget_map(n.min(LARGE_BUDGET_SAMPLES))?) } else { None };
    if !robustcnn::dist::is_main() {
        return Ok(());
    }
    let report = MultiLabelAttackReport::new(o.label.clone(), set.seed, clean, results, check, n);
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
