//! Shorthand flags (`--lr`, `--seeds`) are `--set`s under another name. A flag and a `--set` that
//! give one key two different values are refused: one of the two would be silently dropped.
use anyhow::{bail, Result};

/// A shorthand flag as the user wrote it (`--lr 0.3`) and the override it stands for (`optim.lr=0.3`).
pub struct Shorthand {
    pub flag: String,
    pub set: String,
}

impl Shorthand {
    pub fn new(flag: &str, shown: impl std::fmt::Display, key: &str, value: impl std::fmt::Display) -> Self {
        Shorthand { flag: format!("{flag} {shown}"), set: format!("{key}={value}") }
    }
}

/// The overrides, the shorthands' first, then the `--set`s; refused when a `--set` gives a
/// shorthand's key another value.
pub fn merged(shorthands: Vec<Shorthand>, sets: &[String]) -> Result<Vec<String>> {
    for s in &shorthands {
        let (key, value) = s.set.split_once('=').unwrap_or((&s.set, ""));
        for set in sets {
            let Some((k, v)) = set.split_once('=') else { continue };
            if k.trim() == key && !same_value(v, value) {
                bail!("{} and --set {set} both set {key}, to different values; give it once", s.flag);
            }
        }
    }
    Ok(shorthands.into_iter().map(|s| s.set).chain(sets.iter().cloned()).collect())
}

/// Two TOML values written out (`0.3` and `0.30` are the same value).
fn same_value(a: &str, b: &str) -> bool {
    let parse = |v: &str| format!("v = {v}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_and_a_set_of_one_key_must_agree() {
        let lr = || vec![Shorthand::new("--lr", 0.3, "optim.lr", 0.3)];
        let sets = ["optim.lr=0.30".to_string(), "train.steps=5".to_string()];
        assert_eq!(merged(lr(), &sets).unwrap(), ["optim.lr=0.3", "optim.lr=0.30", "train.steps=5"]);
        let e = merged(lr(), &["optim.lr=0.2".to_string()]).unwrap_err().to_string();
        assert_eq!(e, "--lr 0.3 and --set optim.lr=0.2 both set optim.lr, to different values; give it once");
    }
}
