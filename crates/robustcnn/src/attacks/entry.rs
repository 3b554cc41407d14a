//! What an attack entry is (docs/extending.md): its name, a summary, its own parameters with their
//! defaults, the norms it is defined for, and how to build it from an [`AttackSpec`]. The list of
//! entries is [`super::registry::ATTACKS`].
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

/// One parameter value and the text it came from, as error messages quote it (`--steps 0`,
/// `--attack pgd:steps=0`, `evaluate.pgd_steps = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: String,
    /// The entry's default, not a value the user gave.
    pub default: bool,
}

/// A step size in the one form protocols record (docs/results.md): `eps*F` when relative to ε
/// (`eps/4` and `eps*0.25` alike), else its absolute value (`2/255` as 0.00784313725490196); text
/// that is no step size is kept as written.
pub fn canonical_step(text: &str) -> String {
    let setting = Setting { key: "alpha".into(), value: text.into(), origin: String::new(), default: false };
    let spec = AttackSpec { eps: 1.0, norm: super::Norm::Linf, num_classes: 0, settings: vec![setting] };
    let relative = text.trim().starts_with("eps") || text.trim().starts_with('ε');
    match spec.step("alpha") {
        Ok(f) if relative => format!("eps*{f}"),
        Ok(v) => format!("{v}"),
        Err(_) => text.to_string(),
    }
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
        // Every key an entry reads is one of its params, so spec() gave it a value (the contract
        // test builds every entry); a key it does not declare reads as empty and fails to parse.
        static UNDECLARED: Setting =
            Setting { key: String::new(), value: String::new(), origin: String::new(), default: true };
        self.settings.iter().find(|s| s.key == key).unwrap_or(&UNDECLARED)
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

    /// How many target classes a targeted attack runs through: at least 1, at most the other classes.
    /// A default above that (AutoAttack's 9 on a 5-class dataset) is cut to them; a value the user
    /// gave is refused, so the protocol never records more targets than ran.
    pub fn target_count(&self) -> Result<usize> {
        let n = self.count("targets", 1, "at least 1 target class is needed")?;
        let others = (self.num_classes as usize).saturating_sub(1);
        if n > others && !self.setting("targets").default {
            let what = format!("this dataset has {} classes, so at most {others} targets", self.num_classes);
            return Err(self.error("targets", &what));
        }
        Ok(n.min(others).max(1))
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
        // At ε = 0 a step relative to ε is 0: the attack leaves the images as they are.
        let still = v == 0.0 && self.eps == 0.0 && rel.is_some();
        if !(v > 0.0 && v.is_finite() || still) {
            return Err(self.error(key, "the step size must be positive"));
        }
        Ok(v)
    }
}
