//! Dropout as a reference method: element-wise dropout (scaled by 1/(1−p)) on one stage's output map,
//! in training only; by default the last convolutional stage, i.e. the input of the pooling head.
use super::entry::{Build, Composition, Invalid, MethodInfo, Settings};
use super::{conv_stage, conv_stages, Method, MethodConfig, StepContext, StepOutput};
use crate::error::Result;
use crate::models::Network;
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

pub const ENTRY: MethodInfo = MethodInfo {
    section: Some(super::entry::section::<DropoutConfig>()),
    bind: Some(bind),
    ..MethodInfo::new(
        "dropout",
        "dropout (p 0.5) on the last convolutional stage's output map during training",
        Build::Step(build),
    )
};

impl Settings for DropoutConfig {
    const KEY: &'static str = "dropout";
    fn check(&self, _: &Composition) -> std::result::Result<(), Invalid> {
        if !(0.0..1.0).contains(&self.probability) {
            return Err(Invalid::Key("probability", "must be in [0, 1)".into()));
        }
        Ok(())
    }
}

/// The last convolutional stage: the input of the pooling head.
fn last_conv_stage(net: &Network) -> String {
    conv_stages(net).last().map_or("stem", |s| s).to_string()
}

/// Writes the default stage for the model into the settings.
fn bind(m: &mut MethodConfig, net: &Network) {
    let mut d: DropoutConfig = m.get_or_default();
    d.stage.get_or_insert_with(|| last_conv_stage(net));
    m.set(&d);
}

fn build(m: &MethodConfig, net: &Network, _: i64) -> Result<Box<dyn Method>> {
    let cfg: DropoutConfig = m.get_or_default();
    let name = cfg.stage.clone().unwrap_or_else(|| last_conv_stage(net));
    Ok(Box::new(Dropout { probability: cfg.probability, stage: conv_stage(net, &name, "method.dropout.stage")? }))
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
