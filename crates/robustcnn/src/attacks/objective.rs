//! The per-sample objectives attacks ascend: cross-entropy, the CW margin and the DLR loss
//! (Croce & Hein 2020), untargeted or towards a target class (docs/methods.md §4.3).
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which loss an attack maximizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Cross-entropy of the true class (targeted: minus that of the target).
    Ce,
    /// Carlini–Wagner margin: best other logit minus the true one (targeted: target minus best other).
    Cw,
    /// Difference of logits ratio; needs at least 3 classes (4 when targeted).
    Dlr,
}

impl LossKind {
    pub fn parse(s: &str) -> Result<LossKind> {
        match s {
            "ce" => Ok(LossKind::Ce),
            "cw" | "margin" => Ok(LossKind::Cw),
            "dlr" => Ok(LossKind::Dlr),
            _ => Err(Error::Config(format!("--loss {s}: expected ce, cw (margin) or dlr"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Ce => "CE",
            LossKind::Cw => "CW",
            LossKind::Dlr => "DLR",
        }
    }
}

/// The largest logit other than class `c` (per sample).
fn best_other(logits: &Tensor, c: &Tensor) -> Tensor {
    let mask = logits.zeros_like().scatter_value(1, &c.unsqueeze(1), 1.0).to_kind(Kind::Bool);
    logits.masked_fill(&mask, f64::NEG_INFINITY).amax([1i64].as_slice(), false)
}

fn logit_of(logits: &Tensor, c: &Tensor) -> Tensor {
    logits.gather(1, &c.unsqueeze(1), false).squeeze_dim(1)
}

/// The objective per sample (shape N) that an attack ascends.
pub fn objective(logits: &Tensor, y: &Tensor, target: Option<&Tensor>, loss: LossKind) -> Tensor {
    match (loss, target) {
        // Multi-label targets (N × classes): the per-class binary cross-entropy, summed per sample
        // (docs/multilabel.md §4).
        (LossKind::Ce, None) if y.dim() == 2 => logits
            .to_kind(Kind::Float)
            .binary_cross_entropy_with_logits::<Tensor>(y, None, None, tch::Reduction::None)
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float),
        (LossKind::Ce, None) => logits.cross_entropy_loss::<Tensor>(y, None, tch::Reduction::None, -100, 0.0),
        (LossKind::Ce, Some(t)) => -logits.cross_entropy_loss::<Tensor>(t, None, tch::Reduction::None, -100, 0.0),
        (LossKind::Cw, None) => best_other(logits, y) - logit_of(logits, y),
        (LossKind::Cw, Some(t)) => logit_of(logits, t) - best_other(logits, t),
        (LossKind::Dlr, None) => {
            let sorted = logits.sort(1, true).0;
            let scale = sorted.select(1, 0) - sorted.select(1, 2) + 1e-12;
            -(logit_of(logits, y) - best_other(logits, y)) / scale
        }
        (LossKind::Dlr, Some(t)) => {
            let sorted = logits.sort(1, true).0;
            let scale = sorted.select(1, 0) - (sorted.select(1, 2) + sorted.select(1, 3)) * 0.5 + 1e-12;
            -(logit_of(logits, y) - logit_of(logits, t)) / scale
        }
    }
}
