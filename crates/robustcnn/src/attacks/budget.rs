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

/// Refuses a budget list that names one value twice (`8/255,0.0313725490196`): it would be attacked,
/// and reported, twice. `budgets` pairs each value with its text; `what` names the option.
pub fn check_distinct_budgets(budgets: &[(f64, String)], what: &str) -> Result<()> {
    for (i, (eps, text)) in budgets.iter().enumerate() {
        if let Some((_, first)) = budgets[..i].iter().find(|(e, _)| e == eps) {
            let same = if first == text { String::new() } else { format!(" (as {first})") };
            return Err(Error::Config(format!("{what} lists {text} twice{same}")));
        }
    }
    Ok(())
}

/// Checks an ℓ∞ budget against the pixel range: images lie in [0, 1], so ε above 1 means nothing.
pub fn check_linf_budget(eps: f64, what: &str, text: &str) -> Result<()> {
    if eps > 1.0 {
        let hint =
            if eps <= 255.0 && !text.contains('/') { format!("; did you mean {text}/255?") } else { String::new() };
        return Err(Error::Config(format!(
            "{what} {text}: an ℓ∞ budget must lie in [0, 1], the pixel range of images in [0, 1]{hint}"
        )));
    }
    Ok(())
}

/// Checks an ℓ2 budget against the largest distance two images of `dims` values in [0, 1] can have,
/// the diagonal √dims.
pub fn check_l2_budget(eps: f64, what: &str, text: &str, dims: usize) -> Result<()> {
    let diagonal = (dims as f64).sqrt();
    if eps > diagonal {
        return Err(Error::Config(format!(
            "{what} {text}: an ℓ2 budget must lie in [0, {diagonal:.2}], the diagonal of images of {dims} values in [0, 1]"
        )));
    }
    Ok(())
}

/// Warnings for a PGD schedule that cannot work as meant: a step larger than ε, or too few steps of
/// size α to reach the boundary of the ε-ball from its centre (steps × α < ε).
pub fn step_warnings(eps: f64, eps_text: &str, alpha: f64, steps: usize) -> Vec<String> {
    let mut w = Vec::new();
    if alpha > eps {
        w.push(format!(
            "step size α={alpha:.5} is larger than ε={eps_text}: every PGD step overshoots the ball and the projection does the work"
        ));
    }
    if (steps as f64) * alpha < eps * (1.0 - 1e-9) {
        w.push(format!(
            "{steps} steps of α={alpha:.5} cover {:.5}, less than ε={eps_text}: PGD cannot reach the boundary of the budget from the clean image",
            steps as f64 * alpha
        ));
    }
    w
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
