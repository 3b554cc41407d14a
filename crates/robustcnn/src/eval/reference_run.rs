//! `eval corruptions --reference RUN`: the reference run's corruption evaluation made under this
//! evaluation's setting, whose errors normalise CE and mCE (docs/results.md, reference runs).
use super::corruptions::CorruptionReport;
use super::store::{canonical, of_own_weights, Entry, ResultsStore};
use crate::error::{Error, Result};
use crate::train::{RunDir, CONFIG_FILE};
use serde_json::Value;
use std::path::Path;

/// Protocol keys an evaluation and its reference must share: the same corrupted images, made alike.
const SHARED: [&str; 10] =
    ["source", "corruptions", "severities", "preset", "frost", "seed", "split", "images", "limit", "precision"];

/// The reference run's corruption report evaluated under `wanted` (a protocol holding the
/// [`SHARED`] keys) on `dataset`; its primary evaluation when that one matches, else the latest that does.
pub fn read_reference(run: &Path, dataset: &str, wanted: &Value) -> Result<CorruptionReport> {
    if run.join(CONFIG_FILE).is_file() {
        let theirs = RunDir::open(run)?.read_config_on(Some("cpu"))?.data.dataset;
        if theirs != dataset {
            return Err(Error::Config(format!(
                "--reference {}: a run on {theirs}, this one is on {dataset}; a reference is evaluated on the same images",
                run.display()
            )));
        }
    }
    let store = ResultsStore::of_run(run);
    let index = store.index()?;
    if index.evaluations.is_empty() && store.dir.join("corruptions.json").is_file() {
        let severities: Vec<u8> = serde_json::from_value(wanted["severities"].clone()).unwrap_or_default();
        return read_legacy(run, &severities);
    }
    let mut entries: Vec<&Entry> = index.primary("corruptions").into_iter().collect();
    // The reference run's own weights: never another model's evaluation kept in its folder.
    entries.extend(index.evaluations.iter().rev().filter(|e| e.kind == "corruptions" && of_own_weights(&e.protocol)));
    let ranked: Vec<(&Entry, Vec<String>)> =
        entries.into_iter().map(|e| (e, differences(&e.protocol, wanted))).collect();
    let named = |what: String| Error::Config(format!("--reference {}: {what}", run.display()));
    let Some((found, _)) = ranked.iter().find(|(_, d)| d.is_empty()) else {
        return Err(match ranked.iter().min_by_key(|(_, d)| d.len()) {
            None => named("no corruption results there; run eval corruptions on it first".into()),
            Some((_, closest)) => named(format!(
                "none of its corruption evaluations was made like this one (the closest differs in {}); \
                 run eval corruptions on it with the same options",
                closest.join(", ")
            )),
        });
    };
    let path = store.dir.join(&found.dir).join("corruptions.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let report: CorruptionReport =
        serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, format!("not a corruption report: {e}")))?;
    if report.mce_unnormalized.is_none() {
        return Err(named("its results lack some of the 15 benchmark corruptions".into()));
    }
    Ok(report)
}

/// A reference run evaluated before protocols were kept: its results/corruptions.json, at the same severities.
fn read_legacy(run: &Path, severities: &[u8]) -> Result<CorruptionReport> {
    let path = run.join("results").join("corruptions.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::Config(format!(
            "--reference {}: no corruption results there ({e}); run eval corruptions on it first",
            run.display()
        ))
    })?;
    let r: CorruptionReport =
        serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, format!("not a corruption report: {e}")))?;
    if r.severities != severities {
        return Err(Error::Config(format!(
            "--reference {}: evaluated at severities {:?}, this evaluation at {severities:?}",
            run.display(),
            r.severities
        )));
    }
    if r.mce_unnormalized.is_none() {
        return Err(Error::Config(format!(
            "--reference {}: its results lack some of the 15 benchmark corruptions",
            run.display()
        )));
    }
    Ok(r)
}

/// The shared keys on which a kept protocol differs from the wanted one, as "key (there vs here)",
/// each compared in its canonical form (a group such as "common" as its names, in benchmark order).
fn differences(there: &Value, here: &Value) -> Vec<String> {
    let (there, here) = (canonical(there), canonical(here));
    SHARED
        .iter()
        .filter(|k| there[**k] != here[**k])
        .map(|k| format!("{k} ({} there, {} here)", shown(k, &there[*k]), shown(k, &here[*k])))
        .collect()
}

/// A value for the message: the corruption list by its length, a missing key as "none".
fn shown(key: &str, v: &Value) -> String {
    match (key, v) {
        ("corruptions", Value::Array(list)) => format!("{} corruptions", list.len()),
        (_, Value::Null) => "none".into(),
        (_, Value::String(s)) => s.clone(),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_that_differ_are_named_and_the_corruption_order_does_not_matter() {
        let here = json!({"corruptions": ["fog", "snow"], "severities": [1, 2], "images": 1000, "limit": null});
        let same = json!({"corruptions": ["snow", "fog"], "severities": [2, 1], "images": 1000, "weights": "last"});
        assert!(differences(&same, &here).is_empty());
        let common = json!({"corruptions": "common", "severities": [1, 2], "images": 1000, "limit": null});
        let named = json!({"corruptions": corrupt::BENCHMARK.iter().rev().collect::<Vec<_>>(), "severities": [1, 2], "images": 1000});
        assert!(differences(&common, &named).is_empty(), "a group and its names are one list");
        let other = json!({"corruptions": ["fog"], "severities": [1, 2], "images": 50, "limit": 50});
        let want = [
            "corruptions (1 corruptions there, 2 corruptions here)",
            "images (50 there, 1000 here)",
            "limit (50 there, none here)",
        ];
        assert_eq!(differences(&other, &here), want);
    }
}
