// Training-mode batch norm followed by ReLU as one autograd function (docs/precision.md, "Fused
// batch norm and ReLU"): the same function as libtorch's batch_norm then relu, with the ReLU's pass
// over the activations folded into the normalisation, and its backward mask recomputed from the
// batch norm's input inside the batch-norm backward pass instead of a pass of its own.
#include <torch/csrc/autograd/custom_function.h>
#include <torch/torch.h>

#include "bn_common.hpp"
#include "error_message.hpp"

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace rcb::bn;

struct BatchNormRelu : public torch::autograd::Function<BatchNormRelu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor running_mean, at::Tensor running_var, double eps, double momentum) {
    int64_t c = x.size(1), rows = x.numel() / c;
    auto [mean_t, invstd_t] = batch_statistics(x, running_mean, running_var, eps, momentum);
    const auto& k = kernels(x.scalar_type() == at::kBFloat16);
    const void* xp = x.const_data_ptr();
    const float* mp = mean_t.const_data_ptr<float>();
    auto [scale, shift] = scale_shift(invstd_t, weight, bias);
    auto y = at::empty_like(x);
    const float *sp = scale.const_data_ptr<float>(), *hp = shift.const_data_ptr<float>();
    void* yp = y.data_ptr();
    at::parallel_for(0, rows, kBlockRows, [&](int64_t begin, int64_t end) { k.forward(xp, begin, end, c, mp, sp, hp, yp); });
    ctx->save_for_backward({x, weight, bias, mean_t, invstd_t});
    return y;
  }

  // dx = σ⁻¹γ·(g − Σg/N − (x−μ)·σ⁻²·Σg·(x−μ)/N) with g the output's gradient where the output is
  // positive; dγ = σ⁻¹·Σg·(x−μ), dβ = Σg.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0], weight = saved[1], bias = saved[2], mean_t = saved[3], invstd_t = saved[4];
    variable_list out(7);
    if (!grads[0].defined()) return out;
    int64_t c = x.size(1), rows = x.numel() / c;
    auto dy = grads[0].to(x.scalar_type()).contiguous(x.suggest_memory_format());
    const auto& k = kernels(x.scalar_type() == at::kBFloat16);
    auto [scale, shift] = scale_shift(invstd_t, weight, bias);
    const void *xp = x.const_data_ptr(), *dyp = dy.const_data_ptr();
    const float *mp = mean_t.const_data_ptr<float>(), *sp = scale.const_data_ptr<float>(),
                *hp = shift.const_data_ptr<float>();
    auto sums = channel_sums<2>(rows, c, [&](int64_t r0, int64_t r1, std::vector<std::vector<float>>& acc) {
      k.backward_sums(xp, dyp, r0, r1, c, mp, sp, hp, acc[0].data(), acc[1].data());
    });
    auto sum_g = floats(sums[0]), sum_g_xmu = floats(sums[1]);
    if (ctx->needs_input_grad(0)) {
      auto [mean_g, kk] = input_gradient_coefficients(scale, invstd_t, sum_g, sum_g_xmu, rows);
      auto dx = at::empty_like(x);
      const float *gp = mean_g.const_data_ptr<float>(), *kp = kk.const_data_ptr<float>();
      void* dxp = dx.data_ptr();
      at::parallel_for(0, rows, kBlockRows, [&](int64_t begin, int64_t end) {
        k.backward_input(xp, dyp, begin, end, c, mp, sp, hp, gp, kp, dxp);
      });
      out[0] = dx;
    }
    if (ctx->needs_input_grad(1)) out[1] = (sum_g_xmu * invstd_t).to(weight.scalar_type());
    if (ctx->needs_input_grad(2)) out[2] = sum_g.to(bias.scalar_type());
    return out;
  }
};

}  // namespace

extern "C" {

// Writes into `out` relu(batch_norm(x)) in training mode: fused where `x` is a dense CPU float or
// bfloat16 tensor, channels-last when 4-D, and otherwise libtorch's batch_norm then relu. `weight`,
// `bias` and the running statistics may be null; the running statistics are updated in place.
char* rcb_batch_norm_relu(void* x, void* weight, void* bias, void* running_mean, void* running_var, double eps,
                          double momentum, void** out) {
  try {
    auto tensor = optional_tensor;
    auto input = tensor(x);
    at::Tensor y;
    if (fusable(input)) {
      auto [w, b] = affine_or_identity(weight, bias, input.size(1));
      y = BatchNormRelu::apply(input, w, b, tensor(running_mean), tensor(running_var), eps, momentum);
    } else {
      y = at::batch_norm(input, tensor(weight), tensor(bias), tensor(running_mean), tensor(running_var), true,
                         momentum, eps, at::globalContext().userEnabledCuDNN())
              .relu_();
    }
    *out = new at::Tensor(std::move(y));
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
}

}  // extern "C"
