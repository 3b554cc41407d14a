//! Corruption errors normalised by a reference model's, the ImageNet-C protocol with the reference in
//! AlexNet's place (docs/methods.md §4.1.4): CE_c = E_c / E_c^ref and relative CE_c = (E_c − E_clean) /
//! (E_c^ref − E_clean^ref), each averaged over the 15 benchmark corruptions.
use serde::{Deserialize, Serialize};

/// One model's errors: per benchmark corruption (severities pooled) and clean, as fractions.
pub struct Errors<'a> {
    pub corruption: &'a dyn Fn(&str) -> Option<f64>,
    pub clean: f64,
}

/// mCE and relative mCE against a reference, in %.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Normalized {
    /// 100 × mean over the 15 of E_c / E_c^ref; None when the reference makes no error on one of them.
    pub mce: Option<f64>,
    /// 100 × mean of the relative CEs over the corruptions where the reference loses accuracy.
    pub relative_mce: Option<f64>,
    /// Corruptions left out of the relative mean: the reference is no worse there than on clean images.
    pub relative_left_out: Vec<String>,
}

/// Normalises `model`'s errors by `reference`'s; None unless both cover the 15 benchmark corruptions.
pub fn normalize(model: &Errors, reference: &Errors) -> Option<Normalized> {
    let (mut ce, mut rel, mut left_out) = (Vec::new(), Vec::new(), Vec::new());
    for c in corrupt::BENCHMARK {
        let (e, r) = ((model.corruption)(c)?, (reference.corruption)(c)?);
        ce.push((r > 0.0).then(|| e / r));
        let degradation = r - reference.clean;
        if degradation > 0.0 {
            rel.push((e - model.clean) / degradation);
        } else {
            left_out.push(c.to_string());
        }
    }
    let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len() as f64;
    Some(Normalized {
        mce: ce.into_iter().collect::<Option<Vec<f64>>>().map(|v| mean(&v)),
        relative_mce: (!rel.is_empty()).then(|| mean(&rel)),
        relative_left_out: left_out,
    })
}
