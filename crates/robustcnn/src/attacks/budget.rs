//! Budgets and step sizes as users write them: `8/255`, `0.031`, or `eps/4` relative to ε.
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses a non-negative budget: a number or a fraction such as `8/255`. `what` names the option.
pub fn parse_budget(s: &str, what: &str) -> Result<f64> {
    let s = s.trim();
    let bad = || Error::Config(format!("{what} {s}: expected a non-negative number or a fraction such as 8/255"));
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if b == 0.0 {
                return Err(bad());
            }
            a / b
        }
        None => s.parse().map_err(|_| bad())?,
    };
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(v)
}

/// A budget in a config file: a number, or a string fraction like "8/255"; written back as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub value: f64,
    pub text: String,
}

impl Budget {
    pub fn parse(s: &str, what: &str) -> Result<Budget> {
        Ok(Budget { value: parse_budget(s, what)?, text: s.trim().to_string() })
    }
}

impl Serialize for Budget {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.text.parse::<f64>() {
            Ok(v) => s.serialize_f64(v),
            Err(_) => s.serialize_str(&self.text),
        }
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(v) => format!("{v:?}"),
            Raw::Text(t) => t,
        };
        Budget::parse(&text, "budget").map_err(serde::de::Error::custom)
    }
}
