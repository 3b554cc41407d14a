//! The baseline: cross-entropy (with the recipe's label smoothing) on the training batch.
use super::entry::{Build, MethodInfo};
use super::{Method, StepContext, StepOutput};
use crate::error::Result;
use tch::Tensor;

pub const ENTRY: MethodInfo = MethodInfo::new(
    "baseline",
    "cross-entropy on the (augmented) training images",
    Build::Step(|_, _, _| Ok(Box::new(Baseline))),
);

pub struct Baseline;

impl Method for Baseline {
    fn train_step(&mut self, ctx: &mut StepContext, x: &Tensor, y: &Tensor) -> Result<StepOutput> {
        let logits = ctx.forward(x, 0);
        let loss = ctx.cross_entropy(&logits, y);
        let value = ctx.update(&loss, "cross-entropy", None)?;
        ctx.after_update(x, y, &logits)?;
        Ok(StepOutput { loss: loss.detach(), logits: logits.detach(), terms: vec![("ce".into(), value)] })
    }
}
