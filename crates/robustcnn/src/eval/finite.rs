//! A model whose outputs are NaN or infinite has no score: argmax over NaN picks a fixed class and
//! would pass for chance-level accuracy (docs/results.md, outputs that are not numbers).
use crate::error::{Error, Result};
use tch::Tensor;

/// Per row of a batch of outputs (`rows` × …), whether it holds NaN or ±inf.
pub fn bad_rows(outputs: &Tensor) -> Vec<bool> {
    let rows = outputs.size().first().copied().unwrap_or(0);
    let bad = outputs.isfinite().reshape([rows, -1]).all_dim(1, false).logical_not();
    crate::attacks::to_bools(&bad)
}

/// `outputs` with every row whose `logits` row holds NaN or ±inf set to NaN, so that a check of the
/// outputs (softmax probabilities, sigmoids) judges the logits: softmax turns a −inf logit into a
/// finite 0 and would hide it.
pub fn poison_bad_rows(logits: &Tensor, outputs: &Tensor) -> Tensor {
    let rows = logits.size().first().copied().unwrap_or(0);
    let bad = logits.isfinite().reshape([rows, -1]).all_dim(1, true).logical_not();
    outputs.masked_fill(&bad, f64::NAN)
}

/// Refuses outputs of which any row is flagged bad, naming how many and the first; checked after
/// the ranks of a data-parallel job have merged their rows, so that every rank refuses together.
pub fn check(bad: impl IntoIterator<Item = bool>) -> Result<()> {
    let (mut count, mut first, mut n) = (0usize, None, 0usize);
    for (i, b) in bad.into_iter().enumerate() {
        n += 1;
        if b {
            count += 1;
            first.get_or_insert(i);
        }
    }
    match first {
        None => Ok(()),
        Some(first) => Err(Error::NotFinite(format!(
            "the model's outputs are NaN or infinite for {count} of the {n} images (the first is image {first}): its \
             weights or batch-norm statistics have diverged, so no score is computed from them"
        ))),
    }
}

/// Refuses row-major outputs `width` values wide holding NaN or ±inf.
pub fn check_values(values: &[f32], width: usize) -> Result<()> {
    check(values.chunks(width.max(1)).map(|r| r.iter().any(|v| !v.is_finite())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_outputs_pass_and_a_nan_or_inf_row_is_named() {
        assert!(check_values(&[1.0, -2.0, 3.0, 4.0], 2).is_ok());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let t = Tensor::from_slice(&[1f32, 2.0, 3.0, bad, 5.0, 6.0]).reshape([3, 2]);
            assert_eq!(bad_rows(&t), [false, true, false]);
            let e = check_values(&[1.0, 2.0, 3.0, bad, bad, 6.0], 2).unwrap_err();
            assert!(matches!(e, Error::NotFinite(_)));
            assert!(e.to_string().contains("NaN or infinite for 2 of the 3 images (the first is image 1)"), "{e}");
        }
    }

    #[test]
    fn a_minus_infinite_logit_poisons_its_row_of_finite_probabilities() {
        let logits = Tensor::from_slice(&[1f32, 2.0, f32::NEG_INFINITY, 0.0]).reshape([2, 2]);
        let probs = logits.softmax(-1, tch::Kind::Float);
        assert!(Vec::<f32>::try_from(probs.flatten(0, -1)).unwrap().iter().all(|v| v.is_finite()));
        let poisoned = Vec::<f32>::try_from(poison_bad_rows(&logits, &probs).flatten(0, -1)).unwrap();
        assert!(poisoned[..2].iter().all(|v| v.is_finite()) && poisoned[2..].iter().all(|v| v.is_nan()));
        assert!(check_values(&poisoned, 2).is_err());
    }
}
