//! Results in RobustBench's leaderboard format (docs/imported.md): the fields of its
//! `model_info/<dataset>/<threat model>/<name>.json` entries, and the row of its unaggregated
//! corruption CSV. Fields an evaluation cannot know (link, authors, venue, ...) are null, for the
//! submitter to fill in.
use super::attack_report::AttackReport;
use super::corruptions::CorruptionReport;
use crate::attacks::Norm;
use crate::error::{Error, Result};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

/// The fields left null for the submitter.
pub const TO_FILL: [&str; 5] = ["link", "authors", "additional_data", "venue", "reported"];

/// The robust accuracy RobustBench's `autoattack_acc` means: AutoAttack's standard version with its own settings.
const STANDARD: &str = "AutoAttack (standard)";

/// RobustBench's name for a zoo architecture.
pub fn architecture(model: &str) -> String {
    match model {
        "resnet18" => "ResNet-18".into(),
        "resnet50" => "ResNet-50".into(),
        "preact-resnet18" => "PreActResNet-18".into(),
        m if m.starts_with("wrn-") => format!("WideResNet-{}", &m[4..]),
        other => other.into(),
    }
}

/// The datasets RobustBench keeps leaderboards for, under the names its folders use (ours too).
pub const LEADERBOARDS: [&str; 3] = ["cifar10", "cifar100", "imagenet"];

/// Refuses, before any work, a dataset RobustBench has no leaderboard for.
pub fn check_dataset(dataset: &str) -> Result<()> {
    if LEADERBOARDS.contains(&dataset) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "--format robustbench: RobustBench keeps leaderboards for {}, not for {dataset} (an ImageNet \
         validation folder is read as --dataset imagenet)",
        LEADERBOARDS.join(", ")
    )))
}

/// A leaderboard entry: its fields in the order RobustBench's own files write them.
pub struct Entry(Vec<(&'static str, Value)>);

impl Entry {
    fn set(&mut self, key: &'static str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A percentage as RobustBench writes it: a string with two decimals.
fn percent(v: f64) -> String {
    format!("{:.2}", 100.0 * v)
}

fn entry(name: &str, dataset: &str, model: &str, clean: f64) -> Entry {
    Entry(vec![
        ("link", Value::Null),
        ("name", json!(name)),
        ("authors", Value::Null),
        ("additional_data", Value::Null),
        ("number_forward_passes", json!(1)),
        ("dataset", json!(dataset)),
        ("venue", Value::Null),
        ("architecture", json!(architecture(model))),
        ("eps", Value::Null),
        ("clean_acc", json!(percent(clean))),
        ("reported", Value::Null),
    ])
}

/// Refuses, before any work, an attack evaluation that cannot give an entry: it needs AutoAttack
/// (standard) at one budget.
pub fn check_attack_plan(has_autoattack: bool, budgets: usize) -> Result<()> {
    if !has_autoattack {
        return Err(Error::Config(format!(
            "--format robustbench: its autoattack_acc is the robust accuracy under {STANDARD} with AutoAttack's own \
             settings; add --attack autoattack and leave its counts at their defaults"
        )));
    }
    if budgets != 1 {
        return Err(Error::Config("--format robustbench: one entry holds one budget; pass a single --eps".into()));
    }
    Ok(())
}

/// The threat-model folder and the entry of an attack evaluation, from its AutoAttack (standard) result.
pub fn attack_entry(r: &AttackReport, name: &str, dataset: &str, model: &str) -> Result<(String, Entry)> {
    let runs: Vec<_> = r.results.iter().filter(|x| x.attack == STANDARD).collect();
    check_attack_plan(!runs.is_empty(), runs.len().max(1))?;
    let aa = runs[0];
    let mut m = entry(name, dataset, model, r.clean_accuracy);
    m.set("eps", json!(aa.eps_text));
    m.set("autoattack_acc", json!(percent(aa.robust_accuracy)));
    let threat = if aa.norm == Norm::Linf { "Linf" } else { "L2" };
    Ok((threat.into(), m))
}

/// The entry of a corruption evaluation: mean accuracy over every corruption and severity, and the
/// mCE against AlexNet where it is defined (all 15 benchmark corruptions at all 5 severities).
pub fn corruption_entry(r: &CorruptionReport, name: &str, dataset: &str, model: &str) -> Entry {
    let mut m = entry(name, dataset, model, r.clean_accuracy);
    m.set("corruptions_acc", json!(percent(r.mean_accuracy)));
    if let Some(mce) = r.mce_alexnet {
        m.set("corruptions_mce", json!(format!("{:.2}", 100.0 * mce)));
    }
    m
}

/// RobustBench's unaggregated_results.csv: two header rows (corruption, then severity per column)
/// and this model's accuracy in [0, 1] per corruption and severity.
pub fn unaggregated_csv(r: &CorruptionReport, name: &str) -> String {
    let names: Vec<String> = r.cells.iter().map(|c| c.corruption.replace('-', "_")).collect();
    let severities: Vec<String> = r.cells.iter().map(|c| c.severity.to_string()).collect();
    let values: Vec<String> = r.cells.iter().map(|c| format!("{}", c.accuracy)).collect();
    format!(",{}\n,{}\n{name},{}\n", names.join(","), severities.join(","), values.join(","))
}
