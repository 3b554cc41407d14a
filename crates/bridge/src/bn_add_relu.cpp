// Training-mode batch norm, a residual added, then ReLU, as one autograd function (docs/precision.md,
// "Fused batch norm and ReLU"): relu(batch_norm(x) + s), the tail of every residual block. The same
// function as libtorch's batch_norm, add and relu, in one pass over the activations forward, and the
// ReLU's mask (from the saved output, as libtorch's ReLU takes it) applied inside the batch-norm
// backward pass, which also writes the residual's gradient.
#include <torch/csrc/autograd/custom_function.h>
#include <torch/torch.h>

#include "bn_common.hpp"
#include "error_message.hpp"

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace rcb::bn;

struct BatchNormAddRelu : public torch::autograd::Function<BatchNormAddRelu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& s, const at::Tensor& weight,
                            const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var, double eps,
                            double momentum) {
    int64_t c = x.size(1), rows = x.numel() / c;
    auto [mean_t, invstd_t] = batch_statistics(x, running_mean, running_var, eps, momentum);
    const auto& k = kernels(x.scalar_type() == at::kBFloat16);
    auto [scale, shift] = scale_shift(invstd_t, weight, bias);
    auto y = at::empty_like(x);
    const void *xp = x.const_data_ptr(), *sp = s.const_data_ptr();
    const float *mp = mean_t.const_data_ptr<float>(), *ap = scale.const_data_ptr<float>(),
                *hp = shift.const_data_ptr<float>();
    void* yp = y.data_ptr();
    at::parallel_for(0, rows, kBlockRows,
                     [&](int64_t begin, int64_t end) { k.forward_add(xp, sp, begin, end, c, mp, ap, hp, yp); });
    ctx->save_for_backward({x, weight, bias, mean_t, invstd_t, y});
    return y;
  }

  // With g the output's gradient where the output is positive: dx as batch norm's (bn_relu.cpp),
  // dγ = σ⁻¹·Σg·(x−μ), dβ = Σg, and ds = g.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0], weight = saved[1], bias = saved[2], mean_t = saved[3], invstd_t = saved[4], y = saved[5];
    variable_list out(8);
    if (!grads[0].defined()) return out;
    int64_t c = x.size(1), rows = x.numel() / c;
    auto dy = grads[0].to(x.scalar_type()).contiguous(x.suggest_memory_format());
    const auto& k = kernels(x.scalar_type() == at::kBFloat16);
    auto [scale, shift] = scale_shift(invstd_t, weight, bias);
    const void *xp = x.const_data_ptr(), *yp = y.const_data_ptr(), *dyp = dy.const_data_ptr();
    const float *mp = mean_t.const_data_ptr<float>(), *ap = scale.const_data_ptr<float>();
    auto sums = channel_sums<2>(rows, c, [&](int64_t r0, int64_t r1, std::vector<std::vector<float>>& acc) {
      k.backward_sums_masked(xp, yp, dyp, r0, r1, c, mp, acc[0].data(), acc[1].data());
    });
    auto sum_g = floats(sums[0]), sum_g_xmu = floats(sums[1]);
    auto [mean_g, kk] = input_gradient_coefficients(scale, invstd_t, sum_g, sum_g_xmu, rows);
    auto dx = at::empty_like(x), ds = at::empty_like(x);
    const float *gp = mean_g.const_data_ptr<float>(), *kp = kk.const_data_ptr<float>();
    void *dxp = dx.data_ptr(), *dsp = ds.data_ptr();
    at::parallel_for(0, rows, kBlockRows, [&](int64_t begin, int64_t end) {
      k.backward_input_masked(xp, yp, dyp, begin, end, c, mp, ap, gp, kp, dxp, dsp);
    });
    out[0] = dx;
    out[1] = ds;
    if (ctx->needs_input_grad(2)) out[2] = (sum_g_xmu * invstd_t).to(weight.scalar_type());
    if (ctx->needs_input_grad(3)) out[3] = sum_g.to(bias.scalar_type());
    return out;
  }
};
}  // namespace

extern "C" {

// Writes into `out` relu(batch_norm(x) + s) in training mode: fused where `x` is a dense CPU float or
// bfloat16 tensor, channels-last when 4-D, and `s` has its size, type and device (it is copied into
// x's layout if it has another); otherwise libtorch's batch_norm, add and relu. `weight`, `bias` and the running statistics
// may be null; the running statistics are updated in place.
char* rcb_batch_norm_add_relu(void* x, void* s, void* weight, void* bias, void* running_mean, void* running_var,
                              double eps, double momentum, void** out) {
  try {
    auto tensor = optional_tensor;
    auto input = tensor(x), residual = tensor(s);
    at::Tensor y;
    if (fusable(input) && residual.sizes() == input.sizes() && residual.scalar_type() == input.scalar_type() &&
        residual.device() == input.device()) {
      auto [w, b] = affine_or_identity(weight, bias, input.size(1));
      // The loops walk both in memory order: a residual laid out otherwise is copied into x's layout.
      if (residual.strides() != input.strides()) residual = at::empty_like(input).copy_(residual);
      y = BatchNormAddRelu::apply(input, residual, w, b, tensor(running_mean), tensor(running_var), eps, momentum);
    } else {
      y = (at::batch_norm(input, tensor(weight), tensor(bias), tensor(running_mean), tensor(running_var), true,
                          momentum, eps, at::globalContext().userEnabledCuDNN()) +
           residual)
              .relu_();
    }
    *out = new at::Tensor(std::move(y));
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
}

}  // extern "C"
