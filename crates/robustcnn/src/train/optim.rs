//! SGD (momentum, Nesterov) and AdamW with PyTorch's update rules, with state that can be saved, so
//! `--resume` continues exactly.
use crate::config::{OptimConfig, OptimName};
use crate::dist::Dist;
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
        Optimizer { cfg: cfg.clone(), params, scales, buffers, steps: 0, dist: None }
    }

    /// Makes every update average the gradients over the ranks of `dist` first (DDP's semantics).
    pub fn with_dist(mut self, dist: Option<Arc<Dist>>) -> Self {
        self.dist = dist;
        self
    }

    /// The data-parallel job this optimizer averages over, if any.
    pub fn dist(&self) -> Option<&Dist> {
        self.dist.as_deref()
    }

    /// In a data-parallel job, replaces each gradient by its mean over the ranks (docs/distributed.md §2).
    pub fn average_grads(&self) -> crate::Result<()> {
        let Some(d) = &self.dist else { return Ok(()) };
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
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
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
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
        missing
    }
}
