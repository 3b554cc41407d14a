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
pub fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
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
