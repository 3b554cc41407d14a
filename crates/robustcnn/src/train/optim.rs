//! SGD (momentum, Nesterov) and AdamW with PyTorch's update rules, with state that can be saved, so
//! `--resume` continues exactly.
use super::loss_scale::{LossScaler, STATE_NAME};
use crate::config::{OptimConfig, OptimName};
use crate::dist::Dist;
use robustcnn_bridge::c10d::GradSync;
use std::sync::Arc;
use tch::{nn::VarStore, Tensor};

/// An optimizer over the trainable variables of a var store, in name order.
pub struct Optimizer {
    cfg: OptimConfig,
    params: Vec<(String, Tensor)>,
    /// Each parameter's learning rate as a multiple of the schedule's (`optim.backbone_lr_scale`).
    scales: Vec<f64>,
    /// SGD: one momentum buffer per parameter; AdamW: first then second moments.
    buffers: Vec<(String, Tensor)>,
    pub steps: i64,
    /// The parameters in the order the model made them, which is the order of its forward pass.
    made_order: Vec<Tensor>,
    /// The hooks that average the gradients during the backward pass; dropped before `dist`.
    sync: Option<GradSync>,
    /// The bytes of the first bucket and of the others (DDP's 1 MB and 25 MB unless set).
    bucket_bytes: Option<(usize, usize)>,
    /// fp16's dynamic loss scaling; its state is also the last entry of `buffers`, for checkpoints.
    scaler: Option<LossScaler>,
    /// The data-parallel job whose ranks' gradients are averaged before each update, if any.
    dist: Option<Arc<Dist>>,
}

impl Optimizer {
    pub fn new(vs: &VarStore, cfg: &OptimConfig) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let kinds: &[&str] = match cfg.name {
            OptimName::Sgd => &["momentum_buffer"],
            OptimName::Adamw => &["exp_avg", "exp_avg_sq"],
        };
        let buffers = kinds
            .iter()
            .flat_map(|k| params.iter().map(move |(n, p)| (format!("optimizer.{k}.{n}"), p.zeros_like())))
            .collect();
        let scales = params
            .iter()
            .map(|(n, _)| {
                let head = ["fc.", "linear.", "classifier."].iter().any(|h| n.starts_with(h));
                if head {
                    1.0
                } else {
                    cfg.backbone_lr_scale
                }
            })
            .collect();
        let made_order = vs.trainable_variables();
        Optimizer {
            cfg: cfg.clone(),
            params,
            scales,
            buffers,
            steps: 0,
            made_order,
            sync: None,
            bucket_bytes: None,
            scaler: None,
            dist: None,
        }
    }

    /// Makes every update average the gradients over the ranks of `dist` first (DDP's semantics).
    pub fn with_dist(mut self, dist: Option<Arc<Dist>>) -> Self {
        self.sync = None;
        self.dist = dist;
        self
    }

    /// Scales the loss dynamically (fp16 training): [`Optimizer::backward`] then reports whether the
    /// step may be taken.
    pub fn with_loss_scaler(mut self, on: bool) -> Self {
        self.buffers.retain(|(n, _)| n != STATE_NAME);
        self.scaler = on.then(LossScaler::default);
        if let Some(s) = self.scaler {
            self.buffers.push((STATE_NAME.to_string(), s.to_tensor()));
        }
        self
    }

    /// The loss scaler's state, when the loss is scaled.
    pub fn loss_scaler(&self) -> Option<LossScaler> {
        self.scaler
    }

    /// Buckets of `first` bytes, then of `rest` bytes, for the averaging during the backward pass.
    pub fn with_bucket_bytes(mut self, first: usize, rest: usize) -> Self {
        self.sync = None;
        self.bucket_bytes = Some((first, rest));
        self
    }

    /// The backward pass of `loss`; in a data-parallel job each gradient is then its mean over the
    /// ranks, all-reduced in buckets while the backward pass runs (docs/distributed.md §2). With the
    /// loss scaler, the loss is scaled and the gradients unscaled; false: they overflowed, so the
    /// step must be skipped (docs/precision.md).
    pub fn backward(&mut self, loss: &Tensor) -> crate::Result<bool> {
        let scaled = self.scaler.map(|s| loss * s.scale);
        let loss = scaled.as_ref().unwrap_or(loss);
        match &self.dist {
            None => loss.backward(),
            Some(d) => {
                let sync = match self.sync.take() {
                    Some(sync) => sync,
                    None => d.grad_sync(&self.made_order, self.bucket_bytes)?,
                };
                let done = d.backward_averaged(&sync, loss);
                self.sync = Some(sync);
                done?
            }
        }
        let Some(mut scaler) = self.scaler else { return Ok(true) };
        // After the averaging every rank holds the same gradients, so every rank finds the same.
        let grads = self.grads();
        let overflowed = scaler.unscale(&grads);
        scaler.update(overflowed);
        self.scaler = Some(scaler);
        if let Some((_, t)) = self.buffers.iter_mut().find(|(n, _)| n == STATE_NAME) {
            *t = scaler.to_tensor();
        }
        Ok(!overflowed)
    }

    /// The gradients the last backward pass left (parameters without one are skipped).
    fn grads(&self) -> Vec<Tensor> {
        self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect()
    }

    /// The data-parallel job this optimizer averages over, if any.
    pub fn dist(&self) -> Option<&Dist> {
        self.dist.as_deref()
    }

    /// The averaging buckets, and how many the last backward pass launched before it ended.
    pub fn bucket_counts(&self) -> Option<(usize, usize)> {
        self.sync.as_ref().map(GradSync::counts)
    }

    /// In a data-parallel job, replaces each gradient by its mean over the ranks after the backward
    /// pass, not overlapped with it (`bench` compares the two ways).
    pub fn average_grads(&self) -> crate::Result<()> {
        let Some(d) = &self.dist else { return Ok(()) };
        let grads = self.grads();
        d.average_grads(&grads)
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales the gradients so their joint L2 norm is at most `max` (torch's `clip_grad_norm_`);
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max: f64) -> f64 {
        let grads = self.grads();
        if grads.is_empty() {
            return 0.0;
        }
        let total = tch::no_grad(|| {
            grads
                .iter()
                .map(|g| g.square().sum(tch::Kind::Double))
                .fold(Tensor::from(0.0f64), |a, b| a + b.to_device(tch::Device::Cpu))
                .sqrt()
        })
        .double_value(&[]);
        let coef = max / (total + 1e-6);
        if coef < 1.0 {
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(coef);
                }
            });
        }
        total
    }

    /// One update with learning rate `lr` from the gradients in the parameters.
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let n = self.params.len();
        let c = &self.cfg;
        // 0-dim scalars for in-place `a += b·s` (addcmul_): no temporaries on the hot path.
        let device = self.params.first().map_or(tch::Device::Cpu, |(_, p)| p.device());
        let scalar = |v: f64| Tensor::from(v as f32).to_device(device);
        let (wd, momentum) = (scalar(c.weight_decay), scalar(c.momentum));
        let (neg_lr, neg_backbone_lr) = (scalar(-lr), scalar(-lr * c.backbone_lr_scale));
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let lr = lr * self.scales[i];
                let neg_lr = if self.scales[i] == 1.0 { &neg_lr } else { &neg_backbone_lr };
                let mut g = p.grad();
                if !g.defined() {
                    continue;
                }
                match c.name {
                    // torch.optim.SGD: g += wd·p; buf = μ·buf + g; g = g + μ·buf (Nesterov) or buf; p -= lr·g.
                    // The gradient is updated in place; it is zeroed before the next backward pass.
                    OptimName::Sgd => {
                        if c.weight_decay != 0.0 {
                            let _ = g.addcmul_(p, &wd);
                        }
                        if c.momentum != 0.0 {
                            let buf = &mut self.buffers[i].1;
                            let _ = buf.g_mul_scalar_(c.momentum);
                            let _ = buf.g_add_(&g);
                            if c.nesterov {
                                let _ = g.addcmul_(buf, &momentum);
                            } else {
                                g = buf.shallow_clone();
                            }
                        }
                        let _ = p.addcmul_(&g, neg_lr);
                    }
                    // torch.optim.AdamW: p *= 1 − lr·wd; m, v moments; p -= lr·m̂/(√v̂ + eps).
                    OptimName::Adamw => {
                        let [b1, b2] = c.betas;
                        *p *= 1.0 - lr * c.weight_decay;
                        let (first, second) = self.buffers.split_at_mut(n);
                        let (m, v) = (&mut first[i].1, &mut second[i].1);
                        *m *= b1;
                        *m += &g * (1.0 - b1);
                        *v *= b2;
                        *v += &g * &g * (1.0 - b2);
                        let bc1 = 1.0 - b1.powi(self.steps as i32);
                        let bc2 = 1.0 - b2.powi(self.steps as i32);
                        let denom = (&*v / bc2).sqrt() + c.eps;
                        *p -= (&*m / denom) * (lr / bc1);
                    }
                }
            }
        });
    }

    /// The state tensors, named for a checkpoint.
    pub fn state(&self) -> &[(String, Tensor)] {
        &self.buffers
    }

    /// Restores state tensors by name; returns the names that were missing.
    pub fn load_state(&mut self, tensors: &std::collections::HashMap<String, Tensor>) -> Vec<String> {
        let mut missing = Vec::new();
        tch::no_grad(|| {
            for (name, buf) in &mut self.buffers {
                match tensors.get(name) {
                    Some(t) if t.size() == buf.size() => buf.copy_(t),
                    _ => missing.push(name.clone()),
                }
            }
        });
        if let Some((_, t)) = self.buffers.iter().find(|(n, _)| n == STATE_NAME) {
            self.scaler = LossScaler::from_tensor(t).or(self.scaler);
        }
        missing
    }
}
