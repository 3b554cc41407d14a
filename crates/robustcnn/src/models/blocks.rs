//! Layer helpers shared by the model files: convolutions and batch norms with PyTorch's defaults.
use tch::nn::{self, init::FanInOut, init::NonLinearity, init::NormalOrUniform, Init};

/// Kaiming-normal, fan-out, as torchvision and the CIFAR ResNets initialise convolutions.
pub const KAIMING_FAN_OUT: Init =
    Init::Kaiming { dist: NormalOrUniform::Normal, fan: FanInOut::FanOut, non_linearity: NonLinearity::ReLU };

/// A bias-free k×k convolution with the given stride, padding k/2 and groups.
pub fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, groups: i64) -> nn::Conv2D {
    let cfg =
        nn::ConvConfig { stride, padding: k / 2, groups, bias: false, ws_init: KAIMING_FAN_OUT, ..Default::default() };
    nn::conv2d(p, cin, cout, k, cfg)
}

/// A 2-D batch norm (weight 1, bias 0, momentum 0.1, eps 1e-5 as in PyTorch).
pub fn bn(p: nn::Path, c: i64) -> Norm {
    Norm { inner: nn::batch_norm2d(p, c, Default::default()), eps: BN_EPS, momentum: BN_MOMENTUM }
}

/// Batch-norm momentum of [`bn`] (PyTorch's default).
pub const BN_MOMENTUM: f64 = 0.1;

/// A batch norm that, when it trains under SyncBN (`train.sync_batchnorm`), normalises over the
/// batches of every rank (docs/distributed.md §2), and otherwise is libtorch's.
#[derive(Debug)]
pub struct Norm {
    pub inner: nn::BatchNorm,
    pub eps: f64,
    pub momentum: f64,
}

impl std::ops::Deref for Norm {
    type Target = nn::BatchNorm;
    fn deref(&self) -> &nn::BatchNorm {
        &self.inner
    }
}

impl nn::ModuleT for Norm {
    fn forward_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        let sync = if train { crate::dist::sync_bn::sync_batchnorm() } else { None };
        let Some(d) = sync else { return self.inner.forward_t(x, train) };
        crate::dist::sync_bn::normalize(&self.inner, self.eps, self.momentum, x, &d).unwrap_or_else(|e| {
            // A lost rank: this step normalises per rank, and the gradient averaging that
            // follows reports the failure.
            d.record_failure(e);
            self.inner.forward_t(x, train)
        })
    }
}

impl Norm {
    /// relu(norm(x)). In training, one fused autograd function where the bridge takes `x`
    /// (docs/precision.md, "Fused batch norm and ReLU"); otherwise, and under SyncBN, the two operations.
    pub fn forward_relu_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        if train && crate::dist::sync_bn::sync_batchnorm().is_none() {
            let affine = (self.inner.ws.as_ref(), self.inner.bs.as_ref());
            let running = (&self.inner.running_mean, &self.inner.running_var);
            if let Ok(y) = robustcnn_bridge::batch_norm_relu(x, affine, running, self.eps, self.momentum) {
                return y;
            }
        }
        relu_in_place(nn::ModuleT::forward_t(self, x, train))
    }

    /// relu(norm(x) + s), a residual block's tail. In training, one fused autograd function where
    /// the bridge takes `x` and `s` (docs/precision.md, "Fused batch norm and ReLU"); otherwise, and
    /// under SyncBN, the three operations.
    pub fn forward_add_relu_t(&self, x: &tch::Tensor, s: &tch::Tensor, train: bool) -> tch::Tensor {
        if train && crate::dist::sync_bn::sync_batchnorm().is_none() {
            let affine = (self.inner.ws.as_ref(), self.inner.bs.as_ref());
            let running = (&self.inner.running_mean, &self.inner.running_var);
            if let Ok(y) = robustcnn_bridge::batch_norm_add_relu(x, s, affine, running, self.eps, self.momentum) {
                return y;
            }
        }
        (nn::ModuleT::forward_t(self, x, train) + s).relu()
    }
}

/// `y` with ReLU applied in place: the layers before it never need their output for their gradient.
fn relu_in_place(mut y: tch::Tensor) -> tch::Tensor {
    let _ = y.relu_();
    y
}

/// A linear layer with PyTorch's default initialisation.
pub fn linear(p: nn::Path, cin: i64, cout: i64) -> nn::Linear {
    nn::linear(p, cin, cout, Default::default())
}

/// Global average pooling then a linear classifier: the usual head.
pub fn pool_linear_head(p: nn::Path, cin: i64, classes: i64) -> super::Stage {
    let fc = linear(p, cin, classes);
    Box::new(nn::func_t(move |x, _| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc)))
}

/// Batch-norm epsilon of [`bn`] (PyTorch's default).
pub const BN_EPS: f64 = 1e-5;

/// A bias-free convolution followed by batch norm. In eval mode the norm is folded into the
/// convolution (w·γ/√(σ²+ε), β − μγ/√(σ²+ε)): the same function in one pass over the activations,
/// which makes inference and attacks faster. Parameter names are those of the separate layers.
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    norm: Norm,
    stride: i64,
    padding: i64,
    groups: i64,
}

/// A k×k convolution (stride, padding k/2, groups) at `conv_path` and its batch norm at `bn_path`.
pub fn conv_bn(
    conv_path: nn::Path,
    bn_path: nn::Path,
    cin: i64,
    cout: i64,
    k: i64,
    stride: i64,
    groups: i64,
) -> ConvBn {
    ConvBn {
        conv: conv(conv_path, cin, cout, k, stride, groups),
        norm: bn(bn_path, cout),
        stride,
        padding: k / 2,
        groups,
    }
}

impl ConvBn {
    /// relu(conv_bn(x)), the batch norm and ReLU fused in training ([`Norm::forward_relu_t`]).
    pub fn forward_relu_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        if train {
            return self.norm.forward_relu_t(&x.apply(&self.conv), true);
        }
        relu_in_place(nn::ModuleT::forward_t(self, x, false))
    }

    /// relu(conv_bn(x) + s), the batch norm, residual add and ReLU fused in training
    /// ([`Norm::forward_add_relu_t`]).
    pub fn forward_add_relu_t(&self, x: &tch::Tensor, s: &tch::Tensor, train: bool) -> tch::Tensor {
        if train {
            return self.norm.forward_add_relu_t(&x.apply(&self.conv), s, true);
        }
        (nn::ModuleT::forward_t(self, x, false) + s).relu()
    }
}

impl nn::ModuleT for ConvBn {
    fn forward_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        if train {
            return self.norm.forward_t(&x.apply(&self.conv), true);
        }
        let (Some(gamma), Some(beta)) = (&self.norm.ws, &self.norm.bs) else {
            return self.norm.forward_t(&x.apply(&self.conv), false);
        };
        let scale = gamma / (&self.norm.running_var + BN_EPS).sqrt();
        let w = &self.conv.ws * scale.view([-1, 1, 1, 1]);
        let b = beta - &self.norm.running_mean * &scale;
        x.conv2d(&w, Some(&b), [self.stride], [self.padding], [1], self.groups)
    }
}
