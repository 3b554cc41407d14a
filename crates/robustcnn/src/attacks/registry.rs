//! The attacks evaluation can name, one entry each (docs/extending.md): its name, a summary, its own
//! parameters with their defaults, the norms it is defined for, and how to build it. The CLI's
//! `--attack` names and help, suites' `evaluate.attacks` and the contract tests all read [`ATTACKS`].
use super::{Attack, Norm};
use crate::error::{Error, Result};

/// One parameter of an attack, as `--attack NAME:KEY=VALUE` sets it.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub key: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// One attack of the registry.
pub struct AttackEntry {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    /// The threat models it is defined for.
    pub norms: &'static [Norm],
    /// Builds the attack at the spec's budget; errors name the option a bad value came from.
    pub build: fn(&AttackSpec) -> Result<Box<dyn Attack>>,
}

/// Every attack `--attack` and `evaluate.attacks` accept, in the order help lists them.
pub const ATTACKS: &[AttackEntry] =
    &[super::fgsm::ENTRY, super::pgd::ENTRY, super::apgd::APGD_CE, super::apgd::APGD_T, super::apgd::APGD_PAIR];

/// The entry called `name`.
pub fn find(name: &str) -> Option<&'static AttackEntry> {
    ATTACKS.iter().find(|e| e.name == name)
}

/// The names, comma-separated, for help and error messages.
pub fn names() -> String {
    ATTACKS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

/// One parameter value and the text it came from, as error messages quote it (`--steps 0`,
/// `--attack pgd:steps=0`, `evaluate.pgd_steps = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: String,
}

/// What an attack is built with: budget, norm, the data's classes, and a value for each of its
/// parameters (the default unless set).
#[derive(Clone, Debug)]
pub struct AttackSpec {
    pub eps: f64,
    pub norm: Norm,
    pub num_classes: i64,
    pub settings: Vec<Setting>,
}

impl AttackSpec {
    fn setting(&self, key: &str) -> &Setting {
        // Every key an entry reads is one of its params, so resolve() gave it a value.
        self.settings.iter().find(|s| s.key == key).expect("an attack reads only its own parameters")
    }

    /// "ORIGIN: what was expected".
    pub fn error(&self, key: &str, what: &str) -> Error {
        Error::Config(format!("{}: {what}", self.setting(key).origin))
    }

    pub fn text(&self, key: &str) -> &str {
        &self.setting(key).value
    }

    /// A whole number of at least `min`.
    pub fn count(&self, key: &str, min: usize, what: &str) -> Result<usize> {
        match self.text(key).parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            Ok(_) => Err(self.error(key, what)),
            Err(_) => Err(self.error(key, &format!("expected a whole number (at least {min})"))),
        }
    }

    pub fn flag(&self, key: &str) -> Result<bool> {
        match self.text(key) {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.error(key, "expected true or false")),
        }
    }

    /// A step size: absolute (`2/255`, `0.01`) or relative to ε (`eps/4`, `eps*0.25`).
    pub fn step(&self, key: &str) -> Result<f64> {
        let text = self.text(key).trim();
        let rel = text.strip_prefix("eps").or_else(|| text.strip_prefix("ε"));
        let v = match rel {
            Some(r) => {
                let bad = || self.error(key, "expected eps/K, eps*F, a number or a fraction such as 2/255");
                let (op, num) = r.trim().split_at(r.trim().len().min(1));
                let k: f64 = num.trim().parse().map_err(|_| bad())?;
                match op {
                    "/" if k > 0.0 => self.eps / k,
                    "*" if k >= 0.0 => self.eps * k,
                    _ => return Err(bad()),
                }
            }
            None => super::parse_budget(text, "")
                .map_err(|_| self.error(key, "expected eps/K, eps*F, a number or a fraction such as 2/255"))?,
        };
        if !(v > 0.0 && v.is_finite()) {
            return Err(self.error(key, "the step size must be positive"));
        }
        Ok(v)
    }
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
            let value = value.trim().to_string();
            overrides.push(Setting { key: key.into(), origin: format!("{option} {name}:{key}={value}"), value });
        }
        Ok(AttackRequest { entry, overrides })
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
                })
            })
            .collect();
        Ok(AttackSpec { eps, norm, num_classes, settings })
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
    Ok(list)
}
