//! Learning-rate schedules, evaluated per optimizer step.
use crate::config::{OptimConfig, Schedule};
use std::f64::consts::PI;

/// The learning rate at step `t` (0-based) of `total` steps with `steps_per_epoch` steps an epoch.
pub fn lr_at(cfg: &OptimConfig, t: usize, total: usize, steps_per_epoch: usize) -> f64 {
    let warmup = (cfg.warmup_epochs * steps_per_epoch as f64).round() as usize;
    if t < warmup {
        return cfg.lr * (t + 1) as f64 / warmup as f64;
    }
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        // lr(t) = min + (lr − min)·½(1 + cos(π·t/T)), docs/methods.md §2.8 (after warm-up).
        Schedule::Cosine => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let progress = (t - warmup) as f64 / span;
            cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + (PI * progress).cos())
        }
        Schedule::Step => {
            let epoch = t as f64 / steps_per_epoch.max(1) as f64;
            let passed = cfg.milestones.iter().filter(|&&m| epoch >= m).count();
            cfg.lr * cfg.gamma.powi(passed as i32)
        }
    }
}
