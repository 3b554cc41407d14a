//! The attacks evaluation can name, one entry each (docs/extending.md). The CLI's `--attack` names and
//! help, suites' `evaluate.attacks` and the contract tests all read [`ATTACKS`]; a user names an
//! attack with its parameters as `pgd:steps=50:alpha=eps/8`.
use super::entry::{AttackEntry, AttackSpec, Setting};
use super::{Attack, Norm};
use crate::error::{Error, Result};

/// Every attack `--attack` and `evaluate.attacks` accept, in the order help lists them.
pub const ATTACKS: &[AttackEntry] = &[
    super::fgsm::ENTRY,
    super::pgd::ENTRY,
    super::apgd::APGD_CE,
    super::apgd::APGD_DLR,
    super::apgd::APGD_T,
    super::apgd::APGD_PAIR,
    super::fab::FAB,
    super::fab::FAB_T,
    super::square::ENTRY,
    super::autoattack::ENTRY,
];

/// The entry called `name`.
pub fn find(name: &str) -> Option<&'static AttackEntry> {
    ATTACKS.iter().find(|e| e.name == name)
}

/// The names, comma-separated, for help and error messages.
pub fn names() -> String {
    ATTACKS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

/// An attack as a user names it: `pgd`, or `pgd:steps=50:alpha=eps/8`.
#[derive(Clone)]
pub struct AttackRequest {
    pub entry: &'static AttackEntry,
    /// The `KEY=VALUE` parts, each with the text it came from.
    pub overrides: Vec<Setting>,
}

impl AttackRequest {
    /// Parses one name with its parameters; `option` names where it was written (`--attack`).
    pub fn parse(text: &str, option: &str) -> Result<AttackRequest> {
        let text = text.trim();
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default().trim().to_lowercase();
        let entry = find(&name)
            .ok_or_else(|| Error::Config(format!("{option} {name}: unknown attack (attacks: {})", names())))?;
        let mut overrides = Vec::new();
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| Error::Config(format!("{option} {text}: expected {name}:KEY=VALUE, got '{part}'")))?;
            let key = key.trim();
            if !entry.params.iter().any(|p| p.key == key) {
                let keys: Vec<&str> = entry.params.iter().map(|p| p.key).collect();
                let known = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
                return Err(Error::Config(format!(
                    "{option} {text}: {name} has no parameter '{key}' (it has: {known})"
                )));
            }
            if overrides.iter().any(|s: &Setting| s.key == key) {
                return Err(Error::Config(format!("{option} {text}: gives {key} twice; give each parameter once")));
            }
            let value = value.trim().to_string();
            let origin = format!("{option} {name}:{key}={value}");
            overrides.push(Setting { key: key.into(), origin, value, default: false });
        }
        Ok(AttackRequest { entry, overrides })
    }

    /// The attack as written back: `pgd:steps=50`.
    pub fn text(&self) -> String {
        let parts = self.overrides.iter().map(|s| format!(":{}={}", s.key, s.value));
        std::iter::once(self.entry.name.to_string()).chain(parts).collect()
    }

    /// The same attack with the same parameters, in whatever order they were written.
    fn same_as(&self, other: &AttackRequest) -> bool {
        let sorted = |r: &AttackRequest| {
            let mut v: Vec<(String, String)> = r.overrides.iter().map(|s| (s.key.clone(), s.value.clone())).collect();
            v.sort();
            v
        };
        self.entry.name == other.entry.name && sorted(self) == sorted(other)
    }

    /// The spec at budget `eps`: each parameter from this request, else from `shared` (options that
    /// set a key for every attack that has it, such as `--steps`), else its default.
    pub fn spec(&self, eps: f64, norm: Norm, num_classes: i64, shared: &[Setting]) -> Result<AttackSpec> {
        if !self.entry.norms.contains(&norm) {
            return Err(Error::Config(format!(
                "--attack {}: {} is defined for {} only",
                self.entry.name,
                self.entry.name,
                self.entry.norms.iter().map(|n| n.symbol()).collect::<Vec<_>>().join(" and ")
            )));
        }
        let settings = self
            .entry
            .params
            .iter()
            .map(|p| {
                self.overrides.iter().chain(shared).find(|s| s.key == p.key).cloned().unwrap_or_else(|| Setting {
                    key: p.key.into(),
                    value: p.default.into(),
                    origin: format!("{}'s default {}={}", self.entry.name, p.key, p.default),
                    default: true,
                })
            })
            .collect();
        Ok(AttackSpec { eps, norm, num_classes, settings })
    }

    /// The attack as an evaluation's protocol records it: its name and every parameter's value,
    /// from this request, else `shared`, else the default, step sizes in one form (docs/results.md).
    pub fn describe(&self, norm: Norm, shared: &[Setting]) -> Result<serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.entry.name.into());
        for s in self.spec(0.0, norm, 0, shared)?.settings {
            let value = if s.key == "alpha" { super::entry::canonical_step(&s.value) } else { s.value };
            m.insert(s.key, value.into());
        }
        Ok(serde_json::Value::Object(m))
    }

    /// Builds the attack at budget `eps`.
    pub fn build(&self, eps: f64, norm: Norm, num_classes: i64, shared: &[Setting]) -> Result<Box<dyn Attack>> {
        (self.entry.build)(&self.spec(eps, norm, num_classes, shared)?)
    }
}

/// Splits a comma-separated list of attacks.
pub fn parse_list(text: &str, option: &str) -> Result<Vec<AttackRequest>> {
    let list: Vec<AttackRequest> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| AttackRequest::parse(s, option))
        .collect::<Result<_>>()?;
    if list.is_empty() {
        return Err(Error::Config(format!("{option}: name at least one attack ({})", names())));
    }
    check_distinct(&list, option)?;
    Ok(list)
}

/// Refuses two attacks that results would list under one label (`apgd-t:iters=10` and `apgd-t`
/// both report as APGD-T): each pairs the request as written with its built attack's label.
pub fn check_distinct_labels(labelled: &[(String, String)], option: &str) -> Result<()> {
    for (i, (text, label)) in labelled.iter().enumerate() {
        if let Some((first, _)) = labelled[..i].iter().find(|(_, l)| l == label) {
            return Err(Error::Config(format!(
                "{option}: {first} and {text} would both be reported as {label}; evaluate them one at a time"
            )));
        }
    }
    Ok(())
}

/// Refuses a list that names one attack with the same parameters twice (it would run twice).
pub fn check_distinct(list: &[AttackRequest], option: &str) -> Result<()> {
    for (i, r) in list.iter().enumerate() {
        if list[..i].iter().any(|q| q.same_as(r)) {
            return Err(Error::Config(format!("{option} lists {} twice", r.text())));
        }
    }
    Ok(())
}
