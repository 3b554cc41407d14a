//! Dynamic loss scaling for fp16 training (docs/precision.md, "fp16"), with torch.amp.GradScaler's
//! defaults: the loss is multiplied by the scale before the backward pass and the gradients divided
//! by it after; a step whose gradients hold an inf or a NaN is skipped and the scale halved; after
//! 2,000 steps in a row without one, the scale doubles.
use tch::{Kind, Tensor};

/// The checkpoint entry holding the scaler's state (scale, steps since the last overflow, skipped).
pub const STATE_NAME: &str = "optimizer.loss_scaler";
const INITIAL_SCALE: f64 = 65536.0;
const GROWTH: f64 = 2.0;
const BACKOFF: f64 = 0.5;
const GROWTH_INTERVAL: u64 = 2000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossScaler {
    pub scale: f64,
    /// Steps since the last overflow (or the last growth).
    pub good_steps: u64,
    /// Steps skipped because their gradients overflowed, since the run began.
    pub skipped: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        LossScaler { scale: INITIAL_SCALE, good_steps: 0, skipped: 0 }
    }
}

impl LossScaler {
    /// The state as a checkpoint tensor.
    pub fn to_tensor(self) -> Tensor {
        Tensor::from_slice(&[self.scale, self.good_steps as f64, self.skipped as f64])
    }

    /// The state a checkpoint tensor holds.
    pub fn from_tensor(t: &Tensor) -> Option<LossScaler> {
        let v = Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).ok()?;
        match v[..] {
            [scale, good, skipped] if scale > 0.0 => {
                Some(LossScaler { scale, good_steps: good as u64, skipped: skipped as u64 })
            }
            _ => None,
        }
    }

    /// Divides the gradients by the scale, in place; whether any of them holds an inf or a NaN.
    pub fn unscale(&self, grads: &[Tensor]) -> bool {
        let Some(first) = grads.first() else { return false };
        let bad = tch::no_grad(|| {
            let bad = Tensor::zeros([], (Kind::Bool, first.device()));
            for g in grads {
                let _ = g.shallow_clone().g_mul_scalar_(1.0 / self.scale);
                let _ = bad.shallow_clone().logical_or_(&g.isfinite().all().logical_not());
            }
            bad
        });
        bad.int64_value(&[]) != 0
    }

    /// The scale after a step whose gradients overflowed (`found_inf`, the step skipped) or not.
    pub fn update(&mut self, found_inf: bool) {
        if found_inf {
            self.scale *= BACKOFF;
            self.good_steps = 0;
            self.skipped += 1;
        } else {
            self.good_steps += 1;
            if self.good_steps == GROWTH_INTERVAL {
                self.scale *= GROWTH;
                self.good_steps = 0;
            }
        }
    }
}
