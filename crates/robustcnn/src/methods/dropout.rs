//! Dropout as a reference method: element-wise dropout (scaled by 1/(1−p)) on one stage's output map,
//! in training only; by default the last convolutional stage, i.e. the input of the pooling head.
use super::{Method, StepContext, StepOutput};
use crate::error::Result;
use crate::rng::with_torch_seed;
use tch::Tensor;

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
