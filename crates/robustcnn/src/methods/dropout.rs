//! Dropout as a reference method: element-wise dropout (scaled by 1/(1−p)) on one stage's output map,
//! in training only; by default the last convolutional stage, i.e. the input of the pooling head.
use super::{Method, StepContext, StepOutput};
use crate::error::Result;
use crate::rng::with_torch_seed;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Dropout as a method: element-wise dropout on a stage's output map during training.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DropoutConfig {
    pub probability: f64,
    /// The stage whose output is dropped; unset means the last convolutional stage (the head's input).
    pub stage: Option<String>,
}

impl Default for DropoutConfig {
    fn default() -> Self {
        DropoutConfig { probability: 0.5, stage: None }
    }
}

const DROPOUT_MASK_SEED: u64 = 0x4452;

pub struct Dropout {
    pub probability: f64,
    pub stage: usize,
}

impl Method for Dropout {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let feat = ctx.forward_to(x, self.stage);
        let dropped =
            with_torch_seed(ctx.seed, &[DROPOUT_MASK_SEED, ctx.step as u64], || feat.dropout(self.probability, true));
        let logits = ctx.forward_from(&dropped, self.stage);
        let loss = ctx.cross_entropy(&logits, y);
        let value = ctx.update(&loss, "cross-entropy", None)?;
        ctx.after_update(x, y, &logits)?;
        Ok(StepOutput { loss: loss.detach(), logits: logits.detach(), terms: vec![("ce".into(), value)] })
    }
}
