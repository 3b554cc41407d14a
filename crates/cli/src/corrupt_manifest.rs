//! manifest.json of a corrupted set: how its files were made. `corrupt --out` adds to a folder only
//! when the folder is new, empty, or a set made with the same settings, so that one set never mixes
//! two (a kept `.npy` of another seed or severities would be read under the new manifest).
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

pub const FILE: &str = "manifest.json";

/// The manifest keys that make two sets one; `corruptions` and `tool` may differ.
const IDENTITY: [&str; 7] = ["layout", "dataset", "split", "severities", "images_per_severity", "shape", "engine"];

/// The corruptions a set's manifest lists, when `dir` has one that lists them (the released sets have none).
pub fn listed(dir: &Path) -> Result<Option<Vec<&'static str>>> {
    let path = dir.join(FILE);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let m: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a robustcnn manifest ({e})", path.display()))?;
    let Some(names) = m.get("corruptions").and_then(Value::as_array) else { return Ok(None) };
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    let what = format!("{}: corruptions", path.display());
    crate::engine_args::corruption_list(&names.join(","), &what).map(Some)
}

/// How a set's images were drawn, as its manifest says (e.g. "seed 0, preset cifar, frost
/// photographs"); None for a set without one (the released sets).
pub fn engine(dir: &Path) -> Option<String> {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(FILE)).ok()?).ok()?;
    m.get("engine")?.as_str().map(str::to_string)
}

/// Checks that `out` may receive the set `new` describes, and returns `new` with the corruptions of
/// the set already there (those whose file or folder is present) listed first.
pub fn merge_into(out: &Path, new: Value) -> Result<Value> {
    let Ok(entries) = std::fs::read_dir(out) else { return Ok(new) };
    let path = out.join(FILE);
    if !path.is_file() {
        // Hidden files and the .tmp files of an interrupted atomic write are not a set's.
        let ours = |n: &str| n.starts_with('.') || n.ends_with(".tmp");
        if entries.flatten().all(|e| ours(&e.file_name().to_string_lossy())) {
            return Ok(new);
        }
        bail!(
            "--out {}: holds other files and no {FILE}, so it is not a set `robustcnn corrupt` wrote; give a new or empty folder",
            out.display()
        );
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let old: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a robustcnn manifest ({e})", path.display()))?;
    for key in IDENTITY {
        // A key an older manifest lacks cannot be checked.
        if let Some(was) = old.get(key).filter(|was| Some(*was) != new.get(key)) {
            bail!(
                "--out {}: holds a set made with {key} {was} ({FILE}), not {}; give another folder, or the same settings to add corruptions to it",
                out.display(),
                new.get(key).unwrap_or(&Value::Null)
            );
        }
    }
    let present = |n: &&str| out.join(format!("{n}.npy")).is_file() || out.join(n).is_dir();
    let listed = |m: &Value| -> Vec<String> {
        let names = m.get("corruptions").and_then(Value::as_array).into_iter().flatten();
        names.filter_map(|n| n.as_str().map(str::to_string)).collect()
    };
    let mut names: Vec<String> = listed(&old).into_iter().filter(|n| present(&n.as_str())).collect();
    for n in listed(&new) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut merged = new;
    merged["corruptions"] = names.into();
    Ok(merged)
}
